#!/usr/bin/env bash
# scripts/bootstrap.sh [bench] — installs the Debian 12 packages that building, testing and
# benchmarking udg need, and nothing else; `bench` adds the Node.js peer of the benchmark suite.
# Idempotent and silent when everything is already there; it only runs apt-get (as root, or
# through sudo) when a package is missing. Never touches the source tree.
set -euo pipefail

packages=(
	build-essential gcc g++ make binutils # compilers, make, nm for the export check
	meson ninja-build pkg-config          # the build
	liburing-dev                          # the engine's only dependency
	libcriterion-dev                      # unit tests
	libbenchmark-dev libuv1-dev           # micro-benchmarks, the libuv baseline in bench/
	gnuplot-nox python3                   # benchmark plots and reports, the test summariser
	pandoc                                # the man pages (docs/gen-man.py, meson option docs)
	libglib2.0-dev                        # examples/embed-glib.c
	valgrind                              # make valgrind
	clang libclang-rt-14-dev              # make fuzz (libFuzzer), make tsan
	clang-format-14                       # make format, make format-check
	iproute2                              # network namespaces for multicast/stress tests
	nodejs                                # bindings/node/ (the addon, its tests, bench peers)
)
# Node-API headers for bindings/node/: a nodejs package that ships /usr/include/node (as
# NodeSource's does) needs nothing more; Debian's own nodejs leaves them to libnode-dev, which is
# asked for only once nodejs is in (installing it next to another nodejs would conflict).
if dpkg-query -W -f='${Status}' nodejs 2>/dev/null | grep -q 'install ok installed' &&
	[[ ! -f /usr/include/node/node_api.h ]]; then
	packages+=(libnode-dev)
fi

missing=()
for pkg in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	if [[ "$status" != "install ok installed" ]]; then
		missing+=("$pkg")
	fi
done

if ((${#missing[@]} == 0)); then
	exit 0
fi

echo "bootstrap: installing ${missing[*]}"
sudo=()
if ((EUID != 0)); then
	if ! command -v sudo >/dev/null; then
		echo "bootstrap: not root and sudo is not installed; install as root: ${missing[*]}" >&2
		exit 1
	fi
	sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	"${missing[@]}" >/dev/null
if [[ ! -f /usr/include/node/node_api.h ]] && ! dpkg-query -W libnode-dev >/dev/null 2>&1; then
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		libnode-dev >/dev/null
fi
echo "bootstrap: done"
