#!/usr/bin/env bash
# scripts/tsan.sh — `make tsan`: the multi-threaded programs (tests/tsan/*.c and the multi-loop
# stress program at 1% of its size) built by meson in build-tsan/ with clang and
# -Db_sanitize=thread -Dtsan=true, run as suite 'tsan'; any data race fails the run. Criterion
# cannot run under TSan (its workers are separate processes), so these are plain programs.
# Ends with "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."

out=build-tsan
cc=$(command -v clang-14 || command -v clang || true)
if [[ -z "$cc" ]]; then
	echo "tsan: clang is not installed (scripts/bootstrap.sh installs it)" >&2
	exit 1
fi
if [[ ! -f "$out/build.ninja" ]]; then
	CC="$cc" scripts/meson-setup.sh "$out" >/dev/null
fi
scripts/meson-setup.sh "$out" -Dtsan=true -Db_sanitize=thread -Db_lundef=false \
	-Dtests=false -Dbenchmarks=false -Dexamples=false >/dev/null
ninja -j"${JOBS:-2}" -C "$out" >/dev/null
# run-tests.py fails a program on a ThreadSanitizer report even when it exited 0.
rc=0
python3 scripts/run-tests.py "$out" --suite tsan --summary-file "$out/test-summary.txt" || rc=$?
grep -h -E '^(tsan|stress):' "$out"/test-logs/tsan_*.log 2>/dev/null || true
exit "$rc"
