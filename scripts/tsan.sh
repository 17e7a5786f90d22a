#!/usr/bin/env bash
# scripts/tsan.sh — `make tsan`: builds the multi-threaded programs (tests/tsan/*.c and the
# multi-loop stress program at a small scale) with clang -fsanitize=thread, linking the engine
# sources directly into build-tsan/, and runs each; any data race fails the run. Criterion cannot
# run under TSan (its workers are separate processes), so these are plain programs.
# Ends with "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

out=build-tsan
cc=$(command -v clang-14 || command -v clang || true)
if [[ -z "$cc" ]]; then
	echo "tsan: clang is not installed (scripts/bootstrap.sh installs it)" >&2
	exit 1
fi
mkdir -p "$out/gen/udg"
version=$(sed -n "s/^ *version : '\([0-9.]*\)'.*/\1/p" meson.build | head -1)
IFS=. read -r major minor patch <<<"$version"
sed -e "s/@UDG_VERSION@/$version/" -e "s/@UDG_VERSION_MAJOR@/$major/" \
	-e "s/@UDG_VERSION_MINOR@/$minor/" -e "s/@UDG_VERSION_PATCH@/$patch/" \
	include/udg/version.h.in >"$out/gen/udg/version.h"

cflags=(-std=gnu11 -g -O1 -D_GNU_SOURCE -DUDG_BUILDING -Iinclude -I"$out/gen" -Itests/stress
	-fsanitize=thread -fno-omit-frame-pointer)
engine=$(find engine -name "*.c" | sort)
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"

programs=(tests/tsan/*.c tests/stress/stress_multiloop.c)
passed=0 failed=0
for src in "${programs[@]}"; do
	name=$(basename "$src" .c)
	# shellcheck disable=SC2086
	"$cc" "${cflags[@]}" -o "$out/$name" "$src" $engine -luring -lpthread
	start=$SECONDS
	rc=0
	# The stress program at 1% of its full size: races need interleavings, not volume.
	STRESS_SCALE=0.01 timeout 600 "./$out/$name" >"$out/$name.log" 2>&1 || rc=$?
	if ((rc == 0)) && ! grep -q 'WARNING: ThreadSanitizer' "$out/$name.log"; then
		echo "ok   $name ($((SECONDS - start))s): $(grep -E '^(tsan|stress):' "$out/$name.log" | tail -1)"
		passed=$((passed + 1))
	else
		echo "FAIL $name (exit $rc, log $out/$name.log)"
		grep -A30 -m1 'WARNING: ThreadSanitizer' "$out/$name.log" || tail -30 "$out/$name.log"
		failed=$((failed + 1))
	fi
done
echo "tsan: $passed passed, $failed failed"
((failed == 0))
