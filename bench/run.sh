#!/usr/bin/env bash
# bench/run.sh — entry point of `make bench`: runs the loopback benchmark suite (bench/run.py)
# against the role programs built in $BUILD_DIR (default build-release). QUICK=1 for the short
# mode. It only runs and reports; building is the Makefile's job.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
build_dir="${BUILD_DIR:-build-release}"
case "$build_dir" in
/*) ;;
*) build_dir="$root/$build_dir" ;;
esac

if ! command -v python3 >/dev/null; then
	echo "bench/run.sh: python3 is required" >&2
	exit 1
fi
if [ ! -x "$build_dir/bench/bench_driver" ]; then
	echo "bench/run.sh: $build_dir/bench/bench_driver not found;" \
		"build first (meson setup $build_dir --buildtype=release && ninja -C $build_dir)" >&2
	exit 1
fi

args=(--build-dir "$build_dir")
if [ "${QUICK:-0}" = "1" ]; then
	args+=(--quick)
fi
exec python3 "$here/run.py" "${args[@]}" "$@"
