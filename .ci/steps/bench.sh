#!/usr/bin/env bash
# Quick benchmarks (issue 7): render vs kubectl kustomize side by side, the CMP sidecar under
# load, then the criterion benches in a short mode. Informational: no speed is asserted, a
# missing kubectl (or grpcio for the load run) skips that side, and each part has a time cap
# so the step stays around 5 minutes on a 2-core machine.
# A bench that does not build, or a comparison that crashes, fails the step.
# Usage: bash .ci/steps/bench.sh SHARED_DIR   (run by .ci/run after the release build)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
SHARED="${1:-$(cd .. && pwd)/shared}"

capped() { # capped SECONDS CMD...: a run cut by the cap is reported, not failed
  local cap=$1 rc=0
  shift
  timeout --signal=INT --kill-after=10 "$cap" "$@" || rc=$?
  if [ "$rc" = 124 ] || [ "$rc" = 130 ]; then
    echo "(stopped after ${cap}s: the output above is partial)"
  elif [ "$rc" != 0 ]; then
    return "$rc"
  fi
}

command -v kubectl >/dev/null || echo "kubectl not found: the comparison times render alone"
# GNU time gives each child's own peak RSS; without it compare.py falls back and says so
if [ ! -x /usr/bin/time ] && command -v apt-get >/dev/null; then
  apt-get install -y -qq time >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq time; } >/dev/null 2>&1 ||
    echo "could not install the Debian package time: RSS figures will include the script's own"
fi
cargo build --release --locked --bin render --bin kcmp
echo "--- render vs kubectl kustomize (benches/compare.py --quick)"
capped 150 python3 benches/compare.py --quick --budget 120 --corpus "$SHARED/corpus/dev" --json target/bench-compare.json

echo "--- CMP sidecar under load (benches/cmp_load.py --quick)"
capped 45 python3 benches/cmp_load.py --quick --json target/bench-cmp-load.json

echo "--- criterion (cargo bench, quick mode)"
cargo bench --locked --bench render --bench cmp --no-run
capped 100 cargo bench --locked --bench render --bench cmp -- --warm-up-time 1 --measurement-time 2 --sample-size 10
