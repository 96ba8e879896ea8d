#!/usr/bin/env bash
# CMP conformance: the independent client in $1/tools/cmpclient (a repo-server
# stand-in) against `kcmp serve` on temp sockets, one in-process sidecar (the
# repository's plugin.yaml) and one compat sidecar (testdata/cmp/compat-plugin.yaml);
# checks check, match, params and generate (plain and --full-flow) on testdata apps
# and requires generate's objects to equal `render`'s. Fails on any failure.
set -euo pipefail
SHARED="${1:?usage: cmp-conformance.sh SHARED_DIR}"
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
CLIENT="$SHARED/tools/cmpclient"
WORK="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# The client's Python deps come from PyPI when missing; its stubs go outside $SHARED.
export CMPCLIENT_GEN="$WORK/gen"
if python3 -c 'import grpc, grpc_tools, google.protobuf, yaml' 2>/dev/null; then
  mkdir -p "$CMPCLIENT_GEN"
  python3 -m grpc_tools.protoc -I "$CLIENT" --python_out="$CMPCLIENT_GEN" --grpc_python_out="$CMPCLIENT_GEN" "$CLIENT/cmp.proto"
else
  bash "$CLIENT/setup.sh"
fi

[ -x target/release/kcmp ] && [ -x target/release/render ] || cargo build --release --locked --bin kcmp --bin render
KCMP="$PWD/target/release/kcmp"
RENDER="$PWD/target/release/render"

# The SOPS app: a Secret encrypted for a published test age key (shared testdata).
SOPS_SRC="$SHARED/testdata/sops/fluxcd-kustomize-controller"
SOPS_APP="$WORK/sops-repo/secret-app"
mkdir -p "$SOPS_APP"
cp "$SOPS_SRC/algorithms/age.yaml" "$SOPS_APP/secret.yaml"
printf 'resources:\n- secret.yaml\n' > "$SOPS_APP/kustomization.yaml"
SOPS_KEY="$SOPS_SRC/keys/age.txt"

start() { # name config socket
  SOPS_AGE_KEY_FILE="$SOPS_KEY" KCMP_RENDER="$RENDER" RUST_LOG=info \
    "$KCMP" serve --config "$2" --socket-dir "$WORK/plugins" --work-dir "$WORK/$1" 2> "$WORK/$1.log" &
  pids+=($!)
  for _ in $(seq 1 100); do [ -S "$3" ] && return 0; sleep 0.1; done
  echo "kcmp serve ($1) did not create $3:"; cat "$WORK/$1.log"; return 1
}
start inprocess plugin.yaml "$WORK/plugins/kcmp.sock"
start compat testdata/cmp/compat-plugin.yaml "$WORK/plugins/kcmp-compat-v1.sock"

status=0
python3 .ci/cmp_conformance.py "$CLIENT" "$RENDER" "$WORK/plugins/kcmp.sock" \
  "$WORK/plugins/kcmp-compat-v1.sock" "$SOPS_APP" "$SOPS_KEY" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- in-process sidecar log"; tail -n 40 "$WORK/inprocess.log"
  echo "--- compat sidecar log"; tail -n 40 "$WORK/compat.log"
fi
# Every request's work dir must be gone.
left=$(find "$WORK/inprocess/_cmp_server" "$WORK/compat/_cmp_server" -mindepth 1 -maxdepth 1 | wc -l)
if [ "$left" -ne 0 ]; then echo "FAIL $left request work dirs left behind"; status=1; else echo "ok   no request work dirs left"; fi
exit "$status"
