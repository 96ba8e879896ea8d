#!/usr/bin/env python3
"""CMP conformance driver, run by .ci/steps/cmp-conformance.sh.

Talks to running `kcmp serve` sidecars through the independent client in
../shared/tools/cmpclient (check, match, params, generate plain and --full-flow)
and requires GenerateManifest's objects to equal `render`'s output for the same
app, env and parameters. Where `render` itself fails (an engine feature missing on
this build), generate must fail with the same engine error; that is reported as
SAME-ERROR, not as a pass of the feature.
"""
import json
import os
import subprocess
import sys

import yaml

CLIENT, RENDER, SOCKET, COMPAT_SOCKET, SOPS_APP, SOPS_KEY = sys.argv[1:7]
REPO = os.getcwd()
failures = []
same_error = []


def client(*args):
    p = subprocess.run([sys.executable, os.path.join(CLIENT, "cmpclient.py"), *args],
                       capture_output=True, text=True, timeout=120)
    try:
        out = json.loads(p.stdout) if p.stdout.strip() else None
    except ValueError:
        out = None
    return p.returncode, out, p.stderr


def expect(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{(': ' + detail) if detail and not ok else ''}")
    if not ok:
        failures.append(name)


def render(app, env, params_file):
    cmd = [RENDER, app]
    for e in env:
        cmd += ["--env", e]
    if params_file:
        cmd += ["--params-json", params_file]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "SOPS_AGE_KEY_FILE": SOPS_KEY, "RUST_LOG": "error"})
    if p.returncode != 0:
        # The error is the line starting with "error: " (logs may precede it).
        lines = p.stderr.splitlines()
        start = next((i for i, l in enumerate(lines) if l.startswith("error: ")), 0)
        return None, "\n".join(lines[start:]).removeprefix("error: ")
    return [d for d in yaml.safe_load_all(p.stdout) if d is not None], None


# (case name, app dir, repo root, --env list, params.json or None)
cases = [
    ("plain kustomize", "testdata/examples/guestbook/overlays/dev", "testdata/examples/guestbook", [], None),
    ("templates + parameters", "testdata/cmp/templated", "testdata/cmp",
     ["GREETING=hello: world", "TAG=1.27.3"], "testdata/cmp/templated/params.json"),
    ("sops secret", SOPS_APP, os.path.dirname(SOPS_APP), [], None),
]

code, out, err = client("--socket", SOCKET, "check")
expect("check (in-process)", code == 0 and out == {"isDiscoveryConfigured": True, "provideGitCreds": False},
       f"{out} {err}")
code, out, err = client("--socket", COMPAT_SOCKET, "check")
expect("check (compat)", code == 0 and out == {"isDiscoveryConfigured": True, "provideGitCreds": False},
       f"{out} {err}")

for name, app, root, env, params_file in cases:
    args = ["--repo-root", root, "--app-name", os.path.basename(app)]
    for e in env:
        args += ["--env", e]
    if params_file:
        with open(params_file) as fh:
            args += ["--param", fh.read()]
    want, render_error = render(app, env, params_file)

    code, out, err = client("--socket", SOCKET, "match", app, *args)
    expect(f"match {name}", code == 0 and out == {"isSupported": True, "isDiscoveryEnabled": True},
           f"{out} {err}")
    code, out, err = client("--socket", SOCKET, "params", app, *args)
    expect(f"params {name}", code == 0 and out == {"parameterAnnouncements": []}, f"{out} {err}")

    for label, sock, extra in (("generate", SOCKET, []), ("generate --full-flow", SOCKET, ["--full-flow"]),
                               ("generate (compat)", COMPAT_SOCKET, ["--full-flow"])):
        code, out, err = client("--socket", sock, "generate", app, *args, "--decode", *extra)
        if render_error is None:
            got = out.get("objects") if code == 0 and out else None
            expect(f"{label} {name}: equals render ({len(want)} objects)", got == want,
                   f"exit {code}: {json.dumps(out)[:600]} {err[-300:]}")
        else:
            message = (out or {}).get("error", {}).get("message", "")
            ok = code == 2 and message.startswith("error generating manifests: ") and render_error[:40] in message
            expect(f"{label} {name}: fails like render", ok, f"render: {render_error!r}; server: {message!r}")
            if ok:
                same_error.append(f"{label} {name}: {render_error.splitlines()[0][:120]}")

code, out, err = client("--socket", COMPAT_SOCKET, "params", "testdata/cmp/templated", "--repo-root", "testdata/cmp",
                        "--app-name", "templated")
items = (out or {}).get("parameterAnnouncements", [])
got = [(p["name"], p["string"]) for p in items]
expect("params (compat): dynamic then static", code == 0 and got == [("app", "templated"), ("replicas", "1")],
       f"{out} {err}")

code, out, err = client("--socket", SOCKET, "generate", "testdata/cmp/broken", "--repo-root", "testdata/cmp")
message = (out or {}).get("error", {}).get("message", "")
expect("generate broken app: UNKNOWN naming the file and phase",
       code == 2 and out["error"]["code"] == "UNKNOWN" and message.startswith("error generating manifests: ")
       and "missing.yaml" in message and "render failed after" in message, f"{out} {err}")

code, out, err = client("--socket", SOCKET, "generate", "testdata/cmp/templated", "--repo-root", "testdata/cmp",
                        "--checksum-override", "0" * 64)
message = (out or {}).get("error", {}).get("message", "")
expect("generate with a bad checksum is refused",
       code == 2 and "file checksum validation error" in message, f"{out} {err}")

plugin_dir = os.path.dirname(SOCKET)
code, out, err = client("detect", "testdata/examples/guestbook/overlays/dev", "--repo-root",
                        "testdata/examples/guestbook", "--plugin-dir", plugin_dir, "--plugin-name", "kcmp")
expect("detect named plugin kcmp", code == 0 and (out or {}).get("selected") == "kcmp.sock", f"{out} {err}")
code, out, err = client("detect", "testdata/examples/guestbook/overlays/dev", "--repo-root",
                        "testdata/examples/guestbook", "--plugin-dir", plugin_dir)
expect("detect unnamed: first matching socket in name order",
       code == 0 and (out or {}).get("selected") == "kcmp-compat-v1.sock", f"{out} {err}")

print()
for s in same_error:
    print(f"SAME-ERROR (engine feature unavailable in this build, server and render agree): {s}")
print(f"cmp conformance: {len(failures)} failed")
sys.exit(1 if failures else 0)
