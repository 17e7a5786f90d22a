#!/usr/bin/env bash
# scripts/meson-setup.sh DIR [-Doption=value ...] — makes DIR a configured meson build directory
# of this source tree with the given options: sets it up the first time, applies changed options
# to an existing one, and repairs one whose last configure failed. Never builds and never wipes.
set -euo pipefail

dir=${1:?usage: meson-setup.sh DIR [-Doption=value ...]}
shift
src=$(cd "$(dirname "$0")/.." && pwd)

if [[ -f "$dir/build.ninja" && -f "$dir/meson-private/coredata.dat" ]]; then
	# Configured: only options can differ; ninja re-runs meson itself when meson.build changes.
	# Comparing first avoids a needless regeneration on every run.
	if (($# > 0)) && ! meson introspect --buildoptions "$dir" | python3 -c '
import json, sys
have = {o["name"]: o["value"] for o in json.load(sys.stdin)}
def text(v):
	return str(v).lower() if isinstance(v, bool) else ",".join(v) if isinstance(v, list) else str(v)
want = dict(a[2:].split("=", 1) for a in sys.argv[1:])
sys.exit(0 if all(k in have and text(have[k]) == v for k, v in want.items()) else 1)' "$@"; then
		meson configure "$dir" "$@" >/dev/null
	fi
elif [[ -f "$dir/meson-private/coredata.dat" ]]; then
	meson setup --reconfigure "$dir" "$src" "$@"
else
	meson setup "$dir" "$src" "$@"
fi
