#!/usr/bin/env python3
"""Load the CMP sidecar like a repo-server does and measure it (issue 7 goals: GenerateManifest
p50 for a small app, peak RSS at 64 concurrent streams).

Starts `target/release/kcmp serve` (in-process engine, temp socket and work dirs), then sends
GenerateManifest streams for the guestbook example (`testdata/examples/guestbook`, app path
`overlays/prod`; the tar.gz is built once, metadata + 1 KiB chunks as the repo-server sends):

  1. sequential: --requests calls one after another, with the output cache off and on;
  2. concurrent: --rounds rounds of --streams calls at once (cache off).

Prints p50/p90/p99 latency per phase and the server's peak RSS (VmHWM from /proc) after each
phase. Latency is measured in this Python client, so it includes grpcio's own overhead.
Needs grpcio and grpcio-tools (Python stubs are generated into a temp dir from
src/cmp/cmp.proto); without them it says so and exits 0, so CI does not fail on a machine
without them. A failing call is an error (exit 1): a failed request is not a fast request.

Usage:
  python3 benches/cmp_load.py [--kcmp target/release/kcmp] [--requests 200] [--streams 64]
                              [--rounds 5] [--quick] [--json FILE]
  --quick: 50 sequential requests, 2 rounds of 64 streams
"""

import argparse
import concurrent.futures
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP_ROOT = os.path.join(REPO, "testdata", "examples", "guestbook")
APP_PATH = "overlays/prod"
CHUNK = 1024
PLUGIN = """apiVersion: argoproj.io/v1alpha1
kind: ConfigManagementPlugin
metadata: {name: kcmp}
spec:
  generate: {engine: kcmp}
  discover: {fileName: kustomization.yaml}
"""


def stubs(out_dir):
    """cmp_pb2, cmp_pb2_grpc generated from the crate's proto, or None with the reason."""
    try:
        import grpc  # noqa: F401
        from grpc_tools import protoc
    except ImportError as e:
        return None, f"needs grpcio and grpcio-tools ({e})"
    proto_dir = os.path.join(REPO, "src", "cmp")
    # google/protobuf/empty.proto ships inside grpc_tools
    well_known = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main(["protoc", f"-I{proto_dir}", f"-I{well_known}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
                      os.path.join(proto_dir, "cmp.proto")])
    if rc != 0:
        return None, f"protoc failed on {proto_dir}/cmp.proto (exit {rc})"
    sys.path.insert(0, out_dir)
    import cmp_pb2  # type: ignore
    import cmp_pb2_grpc  # type: ignore
    return (cmp_pb2, cmp_pb2_grpc), None


def archive(root):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                tar.add(path, arcname=os.path.relpath(path, root), recursive=False)
    return buf.getvalue()


def requests(pb2, data):
    md = pb2.ManifestRequestMetadata(appName="guestbook", appRelPath=APP_PATH,
                                     checksum=hashlib.sha256(data).hexdigest(), size=len(data), env=[])
    yield pb2.AppStreamRequest(metadata=md)
    for i in range(0, len(data), CHUNK):
        yield pb2.AppStreamRequest(file=pb2.File(chunk=data[i:i + CHUNK]))


def peak_rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def start_server(kcmp, tmp, cache_mb, max_concurrent):
    config = os.path.join(tmp, f"plugin-{cache_mb}.yaml")
    with open(config, "w") as f:
        f.write(PLUGIN)
    sock_dir = os.path.join(tmp, f"plugins-{cache_mb}")
    work = os.path.join(tmp, f"work-{cache_mb}")
    os.makedirs(work, exist_ok=True)
    log = open(os.path.join(tmp, f"serve-{cache_mb}.log"), "w")
    proc = subprocess.Popen([kcmp, "serve", "--config", config, "--socket-dir", sock_dir, "--work-dir", work,
                             "--cache-mb", str(cache_mb), "--max-concurrent", str(max_concurrent)],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    sock = os.path.join(sock_dir, "kcmp.sock")
    for _ in range(500):
        if os.path.exists(sock) or proc.poll() is not None:
            break
        time.sleep(0.01)
    if not os.path.exists(sock):
        proc.kill()
        log.close()
        with open(log.name) as f:
            raise SystemExit(f"cmp_load.py: kcmp serve did not create {sock}: {f.read()[-2000:]}")
    return proc, sock


def stop_server(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def call(stub, pb2, data):
    start = time.perf_counter()
    reply = stub.GenerateManifest(requests(pb2, data), timeout=60)
    elapsed = time.perf_counter() - start
    if not reply.manifests:
        raise SystemExit("cmp_load.py: GenerateManifest returned no manifests for the guestbook")
    return elapsed


def pct(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


def summary(name, latencies, rss):
    row = {"phase": name, "calls": len(latencies), "p50_ms": statistics.median(latencies) * 1e3,
           "p90_ms": pct(latencies, 90) * 1e3, "p99_ms": pct(latencies, 99) * 1e3, "peak_rss_mib": rss}
    rss_s = f"{rss:.1f} MiB" if rss is not None else "n/a"
    print(f"{name:<28} {row['calls']:>6} {row['p50_ms']:>9.2f} {row['p90_ms']:>9.2f} {row['p99_ms']:>9.2f} "
          f"{rss_s:>12}", flush=True)
    return row


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kcmp", default=os.path.join(REPO, "target", "release", "kcmp"))
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--streams", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    if args.quick:
        args.requests, args.rounds = 50, 2
    if not os.access(args.kcmp, os.X_OK):
        print(f"cmp_load.py: {args.kcmp} is not built; run `cargo build --release --bin kcmp`", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="kcmp-cmp-load-") as tmp:
        loaded, why = stubs(tmp)
        if loaded is None:
            print(f"cmp_load.py: skipped, {why}")
            return 0
        import grpc
        pb2, pb2_grpc = loaded
        data = archive(APP_ROOT)
        print(f"kcmp serve, GenerateManifest of {os.path.relpath(APP_ROOT, REPO)} ({APP_PATH}, "
              f"{len(data)} B archive); latency in ms from a Python grpcio client")
        print(f"{'phase':<28} {'calls':>6} {'p50':>9} {'p90':>9} {'p99':>9} {'server RSS':>12}")
        rows = []
        for cache_mb in (0, 64):
            proc, sock = start_server(args.kcmp, tmp, cache_mb, args.streams)
            try:
                with grpc.insecure_channel("unix:" + sock) as channel:
                    stub = pb2_grpc.ConfigManagementPluginServiceStub(channel)
                    call(stub, pb2, data)  # warm-up (and the cache entry, when on)
                    lat = [call(stub, pb2, data) for _ in range(args.requests)]
                    label = "sequential, cache off" if cache_mb == 0 else "sequential, cache on"
                    rows.append(summary(label, lat, peak_rss_mib(proc.pid)))
                    if cache_mb == 0:
                        lat = []
                        with concurrent.futures.ThreadPoolExecutor(max_workers=args.streams) as pool:
                            for _ in range(args.rounds):
                                lat += list(pool.map(lambda _: call(stub, pb2, data), range(args.streams)))
                        rows.append(summary(f"{args.streams} concurrent, cache off", lat, peak_rss_mib(proc.pid)))
            finally:
                stop_server(proc)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
