#!/usr/bin/env bash
# scripts/node-conformance.sh [BUILD_DIR] — runs Node's own dgram tests against udg's Node addon.
#
# Node's test suite is fetched at run time from Debian's `nodejs` source package (deb-src for
# bookworm, through a private apt configuration; nothing under /etc is changed) and cached in
# BUILD_DIR/node-tests/. It is never part of the source tree. Each test/parallel/test-dgram-*
# file runs with bindings/node/conformance/redirect.js preloaded, which makes require('dgram')
# return udg. Tests that need Node's internals (--expose-internals, handle mocking) or cluster
# are skipped, each with its reason. The last line reads "N passed, N failed, N skipped".
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
cache=$build/node-tests
addon=$build/bindings/node/udg.node
redirect=$src/bindings/node/conformance/redirect.js
per_test_timeout=${NODE_CONFORMANCE_TIMEOUT:-60}

[[ -f $addon ]] || { echo "node-conformance: $addon is not built (make node)" >&2; exit 1; }
command -v node >/dev/null || { echo "node-conformance: node is not installed" >&2; exit 1; }

# ---- Fetch (once): Debian's nodejs source, only test/common and test/parallel/test-dgram-* --
fetch() {
	local apt=$cache/apt
	mkdir -p "$apt/lists/partial" "$apt/sources.d" "$cache/dl"
	cat >"$apt/sources.d/debian-src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	local opts=(-o "Dir::Etc::sourcelist=/dev/null" -o "Dir::Etc::sourceparts=$apt/sources.d"
		-o "Dir::State::Lists=$apt/lists" -o "Debug::NoLocking=1")
	echo "node-conformance: fetching Debian's nodejs source package (once, into $cache)"
	apt-get -qq "${opts[@]}" update
	# Only the upstream tarball is needed; the Debian diff or .dsc of a newer security upload
	# can be missing from a mirror snapshot, so apt's exit status is judged by the tarball.
	(cd "$cache/dl" && apt-get -qq "${opts[@]}" source --download-only nodejs >/dev/null 2>&1) || true
	local tarball
	tarball=$(ls "$cache"/dl/nodejs_*.orig.tar.xz 2>/dev/null | head -n1)
	[[ -n $tarball ]] || { echo "node-conformance: could not download nodejs's source" >&2; exit 1; }
	rm -rf "$cache/src"
	mkdir -p "$cache/src"
	tar -xJf "$tarball" -C "$cache/src" --strip-components=1 --wildcards \
		'*/test/common/*' '*/test/parallel/test-dgram-*'
	basename "$tarball" >"$cache/src/VERSION"
}
[[ -d $cache/src/test/parallel ]] || fetch

# ---- Which tests cannot run against a replacement module, and why --------------------------
skip_reason() {
	local f=$1
	if grep -q -- '--expose-internals' "$f"; then
		echo "needs --expose-internals (Node's internal handles)"
	elif grep -q "require('cluster')" "$f"; then
		echo "uses cluster (the primary owns the handles; udg sockets are per process)"
	elif grep -q -E "_createSocketHandle|\\._handle\\b" "$f" && ! grep -q 'DEP0112' "$f"; then
		echo "mocks node:dgram's internal handle"
	fi
}

passed=0 failed=0 skipped=0
failures=()
cd "$cache/src/test/parallel"
echo "node-conformance: $(cat "$cache/src/VERSION") tests against $addon ($(node --version))"
for f in test-dgram-*.js test-dgram-*.mjs; do
	[[ -f $f ]] || continue
	reason=$(skip_reason "$f")
	if [[ -n $reason ]]; then
		echo "skip $f: $reason"
		skipped=$((skipped + 1))
		continue
	fi
	log=$cache/logs/${f%.*}.log
	mkdir -p "$cache/logs"
	if UDG_NODE_ADDON=$addon NODE_OPTIONS="-r $redirect" \
		timeout "$per_test_timeout" node "$f" >"$log" 2>&1; then
		echo "ok   $f"
		passed=$((passed + 1))
	else
		echo "FAIL $f (log: $log)"
		failed=$((failed + 1))
		failures+=("$f")
	fi
done
for f in "${failures[@]}"; do
	echo "---- $f ----"
	tail -n 15 "$cache/logs/${f%.*}.log"
done
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
