#!/usr/bin/env bash
# scripts/stress.sh — `make stress`: builds build-stress/ (debugoptimized, assertions on) and runs
# the meson suite 'stress' (tests/stress/) at STRESS_SCALE (default 1, the full size; CI passes
# 0.1), then prints every program's summary line. Ends with "N passed, N failed, N skipped".
# Touches nothing outside build-stress/.
set -euo pipefail
cd "$(dirname "$0")/.."

export STRESS_SCALE=${STRESS_SCALE:-1}
scripts/meson-setup.sh build-stress -Dbenchmarks=false -Dexamples=false >/dev/null
ninja -j"${JOBS:-2}" -C build-stress >/dev/null
echo "stress: STRESS_SCALE=$STRESS_SCALE"
rc=0
python3 scripts/run-tests.py build-stress --suite stress \
	--summary-file build-stress/test-summary.txt >build-stress/stress-run.txt || rc=$?
grep -h '^stress: ' build-stress/test-logs/stress_*.log || true
cat build-stress/stress-run.txt
exit "$rc"
