#!/usr/bin/env bash
# scripts/check-pkgconfig.sh [BUILD_DIR] — proves that an installed udg is usable the way users
# use it: installs BUILD_DIR (default build/) into a temporary root, then builds a small program
# against it with `pkg-config udg`, dynamically and fully static, and runs both.
# Needs a configured, built BUILD_DIR; never installs outside the temporary root.
set -euo pipefail

build=${1:-build}
root=$(mktemp -d "${TMPDIR:-/tmp}/udg-pkgconfig.XXXXXX")
trap 'rm -rf "$root"' EXIT

meson install -C "$build" --destdir "$root" --quiet >/dev/null
pc=$(find "$root" -name udg.pc -path '*/pkgconfig/*' | head -n 1)
if [[ -z "$pc" ]]; then
	echo "check-pkgconfig: no udg.pc installed under $root" >&2
	exit 1
fi
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")

# The .pc file names the real prefix; the sysroot maps it into the temporary root.
export PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_SYSROOT_DIR="$root"

cat >"$root/prog.c" <<'PROG'
#include <stdio.h>
#include <string.h>
#include <udg.h>

int main(void)
{
	const char *v = udg_version();

	printf("udg %s (%s)\n", v, udg_err_name(UDG_ERR_SOCKET_BAD_PORT));
	return strcmp(v, UDG_VERSION_STRING) != 0;
}
PROG

version=$(pkg-config --modversion udg)
read -r -a cflags <<<"$(pkg-config --cflags udg)"
read -r -a libs <<<"$(pkg-config --libs udg)"
read -r -a static_libs <<<"$(pkg-config --static --libs udg)"

cc -std=gnu11 -Wall -Wextra -Werror -o "$root/prog" "$root/prog.c" "${cflags[@]}" "${libs[@]}"
out=$(LD_LIBRARY_PATH="$libdir" "$root/prog")
LD_LIBRARY_PATH="$libdir" ldd "$root/prog" | grep -q "$root" ||
	{ echo "check-pkgconfig: prog did not load the installed libudg" >&2; exit 1; }

# -static links libudg.a and everything Libs.private names; a missing one fails the link.
cc -std=gnu11 -Wall -Wextra -Werror -static -o "$root/prog-static" "$root/prog.c" \
	"${cflags[@]}" "${static_libs[@]}" 2> >(grep -v "statically linked applications" >&2)
out_static=$("$root/prog-static")

echo "check-pkgconfig: udg $version installed; dynamic: $out; static: $out_static"
