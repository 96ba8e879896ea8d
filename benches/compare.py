#!/usr/bin/env python3
"""Time `render DIR` against `kubectl kustomize DIR` on the same inputs in the same run (issue 7).

Inputs:
  - every dev corpus case that has expected.yaml (median of --runs runs per case and tool);
  - the large generated tree (testdata/large/gen.py) at 500/1,000/2,000/4,000 documents.

For each input it prints wall and cpu time (medians) and peak RSS of both tools, the ratio
kubectl/render, then the median ratio over the corpus and, for the large tree, the time growth
per doubling of the input (linear means about 2.0x). Runs of the two tools are interleaved so
load from other processes hits both alike. cpu = user + sys time from wait4(); peak RSS comes from
one extra run under GNU time (/usr/bin/time), which also warms the caches.

When kubectl is not on PATH it says so and times render alone. A render failure is shown as
"error" and left out of the ratios (a failing run is not a fast run).

Usage:
  python3 benches/compare.py [--quick] [--render target/release/render] [--corpus DIR]
                             [--runs N] [--large-runs N] [--sizes 500,1000,2000,4000]
                             [--case PREFIX] [--budget SECONDS] [--json FILE]
  --quick: 3 runs per corpus case; large tree timed once for kubectl (only up to 1,000 docs),
           render always at least 5 times per size
"""

import argparse
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FULL_SIZES = [500, 1000, 2000, 4000]
QUICK_KUBECTL_MAX_DOCS = 1000
RUN_TIMEOUT_S = 600
GNU_TIME = "/usr/bin/time"


def load_generator():
    path = os.path.join(REPO, "testdata", "large", "gen.py")
    spec = importlib.util.spec_from_file_location("large_tree_gen", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_once(argv):
    """One run: (wall s, cpu s, peak RSS MiB, ok, first stderr line). stdout is discarded."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        killer = threading.Timer(RUN_TIMEOUT_S, proc.kill)
        killer.start()
        # a blocking wait4 ends the clock at the child's exit, not at the next poll
        _, status, usage = os.wait4(proc.pid, 0)
        killer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        first = err.read(2000).decode("utf-8", "replace").strip().splitlines()
    cpu = usage.ru_utime + usage.ru_stime
    # ru_maxrss is in KiB on Linux
    return wall, cpu, usage.ru_maxrss / 1024.0, proc.returncode == 0, (first[0] if first else "")


def peak_rss_run(argv):
    """Peak RSS in MiB of one run under GNU time, or None without it. A child's ru_maxrss seen
    from here would include the forked Python parent's pages, so RSS is taken this way, in a
    run of its own that also serves as warm-up (its wall time would include time's own exec)."""
    if not os.access(GNU_TIME, os.X_OK):
        return None
    with tempfile.NamedTemporaryFile(mode="r") as out:
        rc = subprocess.call([GNU_TIME, "-f", "%M", "-o", out.name] + argv,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             timeout=RUN_TIMEOUT_S)
        lines = out.read().strip().splitlines()
    if rc != 0 or not lines or not lines[-1].isdigit():
        return None
    return int(lines[-1]) / 1024.0


RENDER_LARGE_RUNS = 5


def measure(tools, dir_, runs):
    """Median wall and cpu time and max peak RSS per tool, runs interleaved across tools."""
    samples = {name: [] for name in tools}
    cpu = {name: [] for name in tools}
    rss = {name: 0.0 for name in tools}
    ok = {name: True for name in tools}
    msg = {name: "" for name in tools}
    for name, argv in tools.items():
        peak = peak_rss_run(argv + [dir_])
        if peak is not None:
            rss[name] = peak
    exact_rss = os.access(GNU_TIME, os.X_OK)
    for _ in range(runs):
        for name, argv in tools.items():
            if not ok[name]:
                continue
            wall, cpu_s, peak, good, first = run_once(argv + [dir_])
            if not good:
                ok[name], msg[name] = False, first
                continue
            samples[name].append(wall)
            cpu[name].append(cpu_s)
            if not exact_rss:
                rss[name] = max(rss[name], peak)
    out = {}
    for name in tools:
        out[name] = {
            "ok": ok[name],
            "seconds": statistics.median(samples[name]) if ok[name] and samples[name] else None,
            "cpu_seconds": statistics.median(cpu[name]) if ok[name] and cpu[name] else None,
            "runs": len(samples[name]),
            "peak_rss_mib": rss[name] if ok[name] else None,
            "error": msg[name] or None,
        }
    return out


def count_docs(expected_path):
    with open(expected_path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    if not text.strip():
        return 0
    return sum(1 for line in text.splitlines() if line == "---") + 1


def build_dir(case_dir):
    root_file = os.path.join(case_dir, "root")
    root = ""
    if os.path.exists(root_file):
        with open(root_file, encoding="utf-8") as f:
            root = f.read().strip()
    return os.path.normpath(os.path.join(case_dir, "in", root))


def fmt_ms(r, key="seconds"):
    if r is None:
        return "-"
    if not r["ok"]:
        return "error"
    return f"{r[key] * 1000:.1f}"


def fmt_rss(r):
    if r is None or not r["ok"]:
        return "-"
    return f"{r['peak_rss_mib']:.0f}"


def ratio(row, key="seconds"):
    k, r = row.get("kubectl"), row.get("render")
    if not k or not r or not k["ok"] or not r["ok"] or not r[key]:
        return None
    return k[key] / r[key]


TABLE_HEAD = (
    "| input | docs | render ms | kubectl ms | ratio | render cpu ms | kubectl cpu ms "
    "| render RSS MiB | kubectl RSS MiB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def print_head(title):
    print(f"\n### {title}\n\n{TABLE_HEAD}", flush=True)


def print_row(row, have_kubectl):
    x = ratio(row)
    k = row.get("kubectl")
    print(
        f"| {row['input']} | {row['docs']} | {fmt_ms(row['render'])} | "
        f"{fmt_ms(k) if have_kubectl else 'n/a'} | "
        f"{f'{x:.1f}x' if x is not None else '-'} | {fmt_ms(row['render'], 'cpu_seconds')} | "
        f"{fmt_ms(k, 'cpu_seconds') if have_kubectl else 'n/a'} | {fmt_rss(row['render'])} | "
        f"{fmt_rss(k) if have_kubectl else 'n/a'} |",
        flush=True,
    )


def main(argv):
    ap = argparse.ArgumentParser(description="render vs kubectl kustomize, side by side")
    ap.add_argument("--quick", action="store_true", help="fewer runs, kubectl on the large tree only up to 1,000 docs")
    ap.add_argument("--render", default=os.path.join(REPO, "target", "release", "render"))
    ap.add_argument("--corpus", default=os.path.join(os.path.dirname(REPO), "shared", "corpus", "dev"))
    ap.add_argument("--runs", type=int, help="runs per corpus case and tool (default 5, quick 3)")
    ap.add_argument("--large-runs", type=int, help="runs per large-tree size and tool (default 3, quick 1)")
    ap.add_argument("--sizes", default=",".join(map(str, FULL_SIZES)), help="large-tree sizes in documents")
    ap.add_argument("--case", action="append", help="only corpus cases starting with this (repeatable)")
    ap.add_argument("--budget", type=float, default=0,
                    help="seconds; once spent, remaining inputs are listed as not measured (0 = no limit)")
    ap.add_argument("--json", help="also write the results as JSON to this file")
    args = ap.parse_args(argv)
    runs = args.runs or (3 if args.quick else 5)
    large_runs = args.large_runs or (1 if args.quick else 3)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s]
    except ValueError:
        print(f"compare.py: --sizes {args.sizes!r}: expected comma-separated numbers", file=sys.stderr)
        return 2

    if not os.access(args.render, os.X_OK):
        print(f"compare.py: no render binary at {args.render}: run `cargo build --release --bin render` first",
              file=sys.stderr)
        return 2
    kubectl = shutil.which("kubectl")
    tools = {"render": [args.render]}
    if kubectl:
        tools["kubectl"] = [kubectl, "kustomize"]
        version = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True).stdout
        print(f"kubectl: {kubectl} ({' '.join(version.split())})")
    else:
        print("kubectl not found on PATH: the kubectl side is skipped, render is timed alone")
    print(f"render: {args.render}")
    if not os.access(GNU_TIME, os.X_OK):
        print(f"{GNU_TIME} not found (Debian package `time`): peak RSS is read from wait4() and includes "
              f"this script's own footprint, about {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"machine: {os.cpu_count()} cpus, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"mode: {'quick' if args.quick else 'full'}, {runs} runs per corpus case, {large_runs} per large size")

    results = {"corpus": [], "large": []}
    t0 = time.perf_counter()
    skipped = []

    def over_budget(what):
        if args.budget and time.perf_counter() - t0 > args.budget:
            skipped.append(what)
            return True
        return False

    # warm the page cache and both binaries before anything is timed
    warm = os.path.join(REPO, "testdata", "examples", "guestbook", "overlays", "prod")
    for argv_ in tools.values():
        run_once(argv_ + [warm])

    # the large tree first: it answers the scaling question, the corpus the typical-app one
    gen = load_generator()
    fallback = []
    print_head(f"large generated tree (testdata/large/gen.py, median of {max(large_runs, RENDER_LARGE_RUNS)} "
               f"runs for render, {large_runs} for kubectl)")
    with tempfile.TemporaryDirectory(prefix="kcmp-large-") as tmp:
        for docs in sizes:
            if over_budget(f"large/{docs}"):
                continue
            out = os.path.join(tmp, str(docs))
            gen.generate(docs, out)
            variant = "overlay"
            probe = run_once([args.render, os.path.join(out, variant)])
            if not probe[3]:
                fallback.append((docs, probe[4]))
                variant = "overlay-nopatch"
            size_tools = dict(tools)
            if args.quick and docs > QUICK_KUBECTL_MAX_DOCS:
                size_tools.pop("kubectl", None)
            row = {"input": f"large/{variant}", "docs": docs}
            # render takes well under a second here, so it gets at least RENDER_LARGE_RUNS runs
            # even in quick mode: the doubling ratios are noisy from a single run.
            render_only = {k: v for k, v in size_tools.items() if k == "render"}
            others = {k: v for k, v in size_tools.items() if k != "render"}
            row.update(measure(render_only, os.path.join(out, variant), max(large_runs, RENDER_LARGE_RUNS)))
            if others:
                row.update(measure(others, os.path.join(out, variant), large_runs))
            row.setdefault("kubectl", None)
            results["large"].append(row)
            print_row(row, bool(kubectl))

    if fallback:
        print(f"\nnote: render cannot build the patched overlay yet ({fallback[0][1]}), so the large tree "
              f"was timed on overlay-nopatch at {', '.join(str(d) for d, _ in fallback)} docs")

    if os.path.isdir(args.corpus):
        cases = sorted(c for c in os.listdir(args.corpus) if os.path.exists(os.path.join(args.corpus, c, "expected.yaml")))
        if args.case:
            cases = [c for c in cases if any(c.startswith(p) for p in args.case)]
        print_head(f"dev corpus ({len(cases)} cases with expected.yaml, median of {runs} runs)")
        for case in cases:
            if over_budget(case):
                continue
            cdir = os.path.join(args.corpus, case)
            row = {"input": case, "docs": count_docs(os.path.join(cdir, "expected.yaml"))}
            row.update(measure(tools, build_dir(cdir), runs))
            results["corpus"].append(row)
            print_row(row, bool(kubectl))
    else:
        print(f"\nno corpus at {args.corpus}: corpus comparison skipped")

    print("\n### summary\n")
    print(f"took {time.perf_counter() - t0:.0f}s; load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if skipped:
        print(f"time budget of {args.budget:.0f}s reached: {len(skipped)} inputs not measured "
              f"({', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''})")
    ratios = [x for x in map(ratio, results["corpus"]) if x is not None]
    failed = [r["input"] for r in results["corpus"] if not r["render"]["ok"]]
    if ratios:
        cpu_ratios = [x for x in (ratio(r, "cpu_seconds") for r in results["corpus"]) if x is not None]
        print(f"corpus: median ratio kubectl/render {statistics.median(ratios):.1f}x wall, "
              f"{statistics.median(cpu_ratios):.1f}x cpu over {len(ratios)} cases "
              f"(wall min {min(ratios):.1f}x, max {max(ratios):.1f}x)")
    if failed:
        print(f"corpus: render failed on {len(failed)} cases (left out of the ratios): {', '.join(failed[:8])}"
              + (" ..." if len(failed) > 8 else ""))
    rss = [r["render"]["peak_rss_mib"] for r in results["corpus"] + results["large"] if r["render"]["ok"]]
    if rss:
        print(f"render peak RSS: max {max(rss):.0f} MiB")
    # linear = time grows like the input (2x docs -> about 2x time); cpu time is the steadier
    # measure on a shared machine, where wall time includes waiting for a core
    for tool in tools:
        for key, what in (("seconds", "wall"), ("cpu_seconds", "cpu")):
            pts = [(r["docs"], r[tool][key]) for r in results["large"]
                   if r.get(tool) and r[tool]["ok"] and r[tool][key]]
            steps = [f"{a}->{b} docs {tb / ta:.2f}x" for (a, ta), (b, tb) in zip(pts, pts[1:])]
            if steps:
                print(f"large tree, {tool} {what} time growth: {', '.join(steps)}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
