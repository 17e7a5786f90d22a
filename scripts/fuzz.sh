#!/usr/bin/env bash
# scripts/fuzz.sh — `make fuzz`: builds the libFuzzer targets in tests/fuzz/ with clang in the
# meson build directory build-fuzz/ (-Dfuzz=true -Db_sanitize=address,undefined),
# replays tests/fuzz/regressions/, then runs each target for FUZZ_SECONDS (default 20) from its
# seed corpus (tests/fuzz/corpus/<target>/, read-only; new inputs go to build-fuzz/corpus/).
# A crash fails the run and leaves its input in build-fuzz/crash-*: turn it into a regression.
# FUZZ_TARGETS="addr send" picks targets. Ends with "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
targets=${FUZZ_TARGETS:-"addr send recvmsg"}
out=build-fuzz
cc=$(command -v clang-14 || command -v clang || true)
if [[ -z "$cc" ]]; then
	echo "fuzz: clang is not installed (scripts/bootstrap.sh installs it)" >&2
	exit 1
fi
# A meson build of its own: clang, ASan+UBSan, libFuzzer instrumentation (-Dfuzz=true).
if [[ ! -f "$out/build.ninja" ]]; then
	CC="$cc" scripts/meson-setup.sh "$out" >/dev/null
fi
scripts/meson-setup.sh "$out" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
	-Dtests=false -Dbenchmarks=false -Dexamples=false >/dev/null
ninja -j"${JOBS:-2}" -C "$out" >/dev/null

passed=0 failed=0
for t in $targets; do
	echo "==== fuzz: $t (${seconds}s) ===="
	ln -sf "tests/fuzz/fuzz_$t" "$out/fuzz_$t"
	mkdir -p "$out/corpus/$t"
	# Known crashers first: each file in regressions/<target>/ must run clean.
	if compgen -G "tests/fuzz/regressions/$t/*" >/dev/null; then
		if ! "./$out/fuzz_$t" tests/fuzz/regressions/"$t"/* >"$out/regress_$t.log" 2>&1; then
			echo "fuzz: $t: a regression input fails again (see $out/regress_$t.log)" >&2
			tail -30 "$out/regress_$t.log" >&2
			failed=$((failed + 1))
			continue
		fi
	fi
	if "./$out/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$out/crash-$t-" -print_final_stats=1 \
		"$out/corpus/$t" "tests/fuzz/corpus/$t" >"$out/fuzz_$t.log" 2>&1; then
		grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$out/fuzz_$t.log" |
			tr '\n' ' '
		echo
		passed=$((passed + 1))
	else
		echo "fuzz: $t FAILED (log: $out/fuzz_$t.log)" >&2
		grep -E 'ERROR|SUMMARY|Test unit written|runtime error' "$out/fuzz_$t.log" | head -20 >&2
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
