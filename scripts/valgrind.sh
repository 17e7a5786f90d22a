#!/usr/bin/env bash
# scripts/valgrind.sh — `make valgrind`: runs the unit suite under valgrind's memcheck on its own
# build (build-valgrind/, debugoptimized). Invalid reads/writes and uses of uninitialised memory
# fail the test at once (--exit-on-first-error); leaks are found in every process's report, as
# Criterion's workers report their result before valgrind's leak check runs at their exit.
# Ends with "N passed, N failed, N skipped". VALGRIND_SUITES overrides the suites (default unit).
# Ring waits are sliced by a preloaded shim (see below and docs/reliability.md).
set -euo pipefail
cd "$(dirname "$0")/.."

out=build-valgrind
if ! command -v valgrind >/dev/null; then
	echo "valgrind: not installed (scripts/bootstrap.sh installs it)" >&2
	exit 1
fi
scripts/meson-setup.sh "$out" -Dbenchmarks=false -Dexamples=false >/dev/null
ninja -j"${JOBS:-2}" -C "$out" >/dev/null

# VALGRIND_SKIP="bad_input ...": Criterion suites to leave out (CI skips the 179-row table, which
# ASan already runs and which costs valgrind two minutes of worker start-ups).
if [[ -n "${VALGRIND_SKIP:-}" ]]; then
	pattern=$(printf '%s/*|' $VALGRIND_SKIP)
	export CRITERION_TEST_PATTERN="!(${pattern%|})"
	echo "valgrind: skipping suites $VALGRIND_SKIP (VALGRIND_SKIP)"
fi
suites=()
for s in ${VALGRIND_SUITES:-unit}; do
	suites+=(--suite "$s")
done
# valgrind 3.19 stops every other thread while one waits in io_uring_enter; the shim slices those
# waits so posts, stops and resolver workers can run (tests/valgrind/enter_slices.c).
shim="$PWD/$out/tests/libenter_slices.so"
wrapper="env LD_PRELOAD=$shim valgrind -q --trace-children=yes --error-exitcode=1 --exit-on-first-error=yes"
wrapper+=" --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect"
wrapper+=" --suppressions=$PWD/tests/valgrind.supp"
rc=0
python3 scripts/run-tests.py "$out" "${suites[@]}" --wrapper "$wrapper" \
	--timeout-multiplier 20 --summary-file "$out/test-summary.txt" >"$out/valgrind-run.txt" || rc=$?

# Leaks (and anything else) reported by a Criterion worker after its result was sent.
leaky=$(grep -l -E '==[0-9]+== (ERROR SUMMARY: [1-9]|[0-9,]+ bytes in [0-9,]+ blocks are (definitely|indirectly) lost)' \
	"$out"/test-logs/*.log 2>/dev/null || true)
if [[ -n "$leaky" ]]; then
	for f in $leaky; do
		echo "valgrind: reports in $f:"
		grep -E '^==[0-9]+== ' "$f" | head -40
	done
	read -r p f s <"$out/test-summary.txt"
	n=$(echo "$leaky" | wc -w)
	sed -i '$d' "$out/valgrind-run.txt"
	echo "$p passed, $((f + n)) failed, $s skipped" >>"$out/valgrind-run.txt"
	rc=1
fi
cat "$out/valgrind-run.txt"
exit "$rc"
