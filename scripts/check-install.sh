#!/usr/bin/env bash
# scripts/check-install.sh — proves that udg installs and is usable the ways the README says,
# each in a scratch directory that is removed afterwards (nothing is installed on the machine):
#  1. readme: the README's install commands, run as written (less sudo) in a fresh copy of the
#     tree, inside a private mount namespace where /usr/local is empty and /etc is a
#     copy-on-write overlay (so `meson install` and `ldconfig` are real but leave no trace);
#     then the README's echo server is compiled by its own command line, run, and must echo.
#  2. prefix: a --prefix install; tests/install/consumer.c built through `pkg-config udg`
#     (shared with an rpath, and fully static) and through a meson project that finds the
#     installed package; each must complete a loopback round trip.
#  3. subproject: the same meson project with udg in subprojects/udg; it must build only the
#     library (no tests, benchmarks, examples) and the round trip must work.
# Usage: check-install.sh [readme|prefix|subproject ...]  (default: all three). Needs root for
# part 1 (mount namespace); without it that part fails. Ends with "check-install: N passed, N failed".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
src=$(pwd)

# A fresh copy of the tree as a clone would have it: tracked and new files, no build dirs.
copy_tree() {
	mkdir -p "$1"
	git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
		[[ -e "$f" ]] && printf '%s\0' "$f"
	done | xargs -0 cp --parents -t "$1"
}

# The first fenced block of language $2 after the heading line matching $1, in README.md.
readme_block() {
	python3 - "$1" "$2" <<'PY'
import re, sys
text = open("README.md").read()
head = re.search(r"^#+ .*" + re.escape(sys.argv[1]) + ".*$", text, re.M)
block = re.search(r"^```" + sys.argv[2] + r"\n(.*?)^```", text[head.end():], re.M | re.S)
sys.stdout.write(block.group(1))
PY
}

# Sends "hello" to 127.0.0.1:$1 until an answer comes back (bounded); prints the answer.
udp_probe() {
	python3 - "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.2)
for _ in range(50):
    s.sendto(b"hello", ("127.0.0.1", int(sys.argv[1])))
    try:
        print(s.recv(64).decode())
        sys.exit(0)
    except socket.timeout:
        pass
sys.exit(1)
PY
}

# Part 1, run inside the namespace: README's commands from a fresh copy of the tree.
readme_inside() {
	local tree=$1
	cd "$tree"
	readme_block "Example: an echo server" c >app.c
	local line cmd
	while IFS= read -r line; do
		cmd=${line%%#*}
		cmd=${cmd//sudo /}
		[[ -n "${cmd// /}" ]] || continue
		if [[ "$cmd" == ./* ]]; then
			# The server itself: run it, check that it answers, stop it.
			read -r -a argv <<<"$cmd"
			"${argv[@]}" >server.log 2>&1 &
			local pid=$! answer
			answer=$(udp_probe 41234) || answer=""
			kill "$pid" 2>/dev/null || true # already gone when it failed to start
			wait "$pid" 2>/dev/null || true
			[[ "$answer" == hello ]] ||
				{ echo "readme: the echo server did not answer" >&2; cat server.log >&2; return 1; }
			echo "readme: installed, ldconfig'd, compiled; the echo server answered '$answer'"
			return 0
		fi
		echo "readme\$ $cmd"
		bash -euo pipefail -c "$cmd" >>readme.log 2>&1 ||
			{ echo "readme: failed: $cmd" >&2; tail -30 readme.log >&2; return 1; }
	done < <(readme_block "Install, then build" sh)
	echo "readme: no command starting with ./ in the README's install block" >&2
	return 1
}

part_readme() {
	if ((EUID != 0)); then
		echo "readme: needs root (a private mount namespace)" >&2
		return 1
	fi
	copy_tree "$scratch/readme/tree"
	mkdir -p "$scratch/readme/upper" "$scratch/readme/work"
	unshare --mount --propagation private bash -c '
		set -euo pipefail
		mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc
		mount -t tmpfs tmpfs /usr/local
		source "$2/scripts/check-install.sh" --functions-only
		readme_inside "$1/tree"' bash "$scratch/readme" "$src"
}

# Part 2.
part_prefix() {
	local prefix=$scratch/prefix
	meson setup "$scratch/prefix-build" "$src" --prefix="$prefix" --buildtype=release \
		-Dtests=false -Dbenchmarks=false -Dexamples=false >"$scratch/prefix.log"
	ninja -C "$scratch/prefix-build" >>"$scratch/prefix.log"
	meson install -C "$scratch/prefix-build" --quiet >>"$scratch/prefix.log"
	local pc
	pc=$(find "$prefix" -name udg.pc -path '*/pkgconfig/*' | head -n 1)
	[[ -n "$pc" ]] || { echo "prefix: no udg.pc installed under $prefix" >&2; return 1; }
	export PKG_CONFIG_PATH="$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
	local page
	for page in man7/udg.7 man3/udg_loop_new.3 man3/udg_socket_send.3; do
		[[ -s "$prefix/share/man/$page" ]] ||
			{ echo "prefix: man page $page not installed" >&2; return 1; }
	done
	echo "prefix: $(find "$prefix/share/man" -name '*.[37]' | wc -l) man pages installed"

	local libdir prog=$src/tests/install/consumer.c out=$scratch/prefix-bin
	libdir=$(pkg-config --variable=libdir udg)
	mkdir -p "$out"
	read -r -a cflags <<<"$(pkg-config --cflags udg)"
	read -r -a libs <<<"$(pkg-config --libs udg)"
	read -r -a static_libs <<<"$(pkg-config --static --libs udg)"

	cc -std=gnu11 -Wall -Wextra -Werror -o "$out/shared" "$prog" "${cflags[@]}" "${libs[@]}" \
		-Wl,-rpath,"$libdir"
	ldd "$out/shared" | grep -q "$libdir/libudg.so" ||
		{ echo "prefix: the program does not load $libdir/libudg.so" >&2; return 1; }
	echo "prefix: pkg-config, shared: $("$out/shared")"

	# -static links libudg.a and everything Libs.private names; a missing one fails the link.
	cc -std=gnu11 -Wall -Wextra -Werror -static -o "$out/static" "$prog" \
		"${cflags[@]}" "${static_libs[@]}" 2> >(grep -v -E "statically linked applications|: in function .worker_main" >&2)
	echo "prefix: pkg-config, static: $("$out/static")"

	local proj=$scratch/meson-installed
	mkdir -p "$proj"
	cp "$src/tests/install/meson.build" "$prog" "$proj/"
	meson setup "$proj/build" "$proj" --wrap-mode=nofallback >"$scratch/meson-installed.log"
	ninja -C "$proj/build" >>"$scratch/meson-installed.log"
	echo "prefix: meson dependency('udg'), installed: $(LD_LIBRARY_PATH="$libdir" "$proj/build/consumer")"
}

# Part 3.
part_subproject() {
	local proj=$scratch/meson-subproject
	mkdir -p "$proj/subprojects"
	cp "$src/tests/install/meson.build" "$src/tests/install/consumer.c" "$proj/"
	copy_tree "$proj/subprojects/udg"
	meson setup "$proj/build" "$proj" --force-fallback-for=udg >"$scratch/subproject.log"
	# Only the library's own targets may come from the subproject.
	meson introspect --targets "$proj/build" | python3 -c '
import json, sys
extra = sorted(t["name"] for t in json.load(sys.stdin)
	       if "subprojects" in t["defined_in"] and not t["defined_in"].endswith("engine/meson.build"))
if extra:
	sys.exit("subproject: builds more than the library: " + " ".join(extra))
'
	ninja -C "$proj/build" >>"$scratch/subproject.log"
	echo "subproject: meson dependency('udg'), fallback: $("$proj/build/consumer")"
}

case "${1:-}" in
--functions-only) # sourced by part 1 inside its namespace
	return 0
	;;
--one) # one part in a process of its own, so that set -e applies to it
	scratch=$(mktemp -d "${TMPDIR:-/tmp}/udg-install.XXXXXX")
	trap 'rm -rf "$scratch"' EXIT
	"part_$2"
	exit 0
	;;
esac

parts=("$@")
((${#parts[@]})) || parts=(readme prefix subproject)
passed=0 failed=0
for part in "${parts[@]}"; do
	if bash "$src/scripts/check-install.sh" --one "$part"; then
		passed=$((passed + 1))
	else
		echo "check-install: $part FAILED" >&2
		failed=$((failed + 1))
	fi
done
echo "check-install: $passed passed, $failed failed"
((failed == 0))
