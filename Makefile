# Makefile — the two README commands, `make test` and `make bench`, and the other checks CI runs.
# Every target installs missing Debian packages first (scripts/bootstrap.sh), configures its own
# meson build directory (build/, build-asan/, ...) and never touches another target's directory.
# `make test` and `make asan` end with the line "N passed, N failed, N skipped".

JOBS ?= 2
NINJA := ninja -j$(JOBS)
BOOTSTRAP := scripts/bootstrap.sh
SETUP := scripts/meson-setup.sh
RUN_TESTS := python3 scripts/run-tests.py
CLANG_FORMAT ?= $(shell command -v clang-format-14 || command -v clang-format || echo clang-format)
FORMAT_FILES = $(shell find engine include tests bench examples bindings -type f \
		 \( -name '*.c' -o -name '*.h' -o -name '*.cc' \) 2>/dev/null | sort) \
	       $(wildcard *.c *.h *.cc)

# Sanitizer reports must fail the test that triggered them, not scroll past (UBSan recovers by
# default). Override from the environment to tune.
ASAN_OPTIONS ?= abort_on_error=1:halt_on_error=1:detect_leaks=1:strict_string_checks=1
UBSAN_OPTIONS ?= abort_on_error=1:halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS UBSAN_OPTIONS

.PHONY: all test bench asan werror stress fuzz valgrind tsan format format-check clean node \
	node-conformance

# Build the debug-optimized tree without running anything.
all:
	@$(BOOTSTRAP)
	@$(SETUP) build
	@$(NINJA) -C build

# Unit tests (Criterion, suite 'unit'), API checks ('api') and the Node addon's tests ('node')
# on build/, on the io_uring backend; then the unit suite again on the epoll backend, and once
# more under a seccomp filter that denies io_uring (the automatic choice must fall back).
# The closing line counts all three runs.
test:
	@$(BOOTSTRAP)
	@$(SETUP) build
	@$(NINJA) -C build
	@echo "---- backend io_uring ----"
	@UDG_BACKEND=uring $(RUN_TESTS) build --summary-file build/test-summary-uring.txt || true
	@echo "---- backend epoll ----"
	@UDG_BACKEND=epoll $(RUN_TESTS) build --suite unit --summary-file build/test-summary-epoll.txt || true
	@echo "---- io_uring denied by seccomp, automatic backend ----"
	@env -u UDG_BACKEND $(RUN_TESTS) build --suite unit --wrapper $(CURDIR)/build/tests/deny-io-uring \
		--summary-file build/test-summary-seccomp.txt || true
	@python3 scripts/sum-summaries.py build/test-summary.txt build/test-summary-uring.txt \
		build/test-summary-epoll.txt build/test-summary-seccomp.txt

# The Node.js addon (bindings/node/): build/bindings/node/udg.node, found by require('udg') when
# bindings/node is installed with npm (docs/node.md).
node:
	@$(BOOTSTRAP)
	@$(SETUP) build -Dnode=enabled
	@$(NINJA) -C build bindings/node/udg.node
	@echo "node: built build/bindings/node/udg.node; npm install $(CURDIR)/bindings/node"

# Node's own test/parallel/test-dgram-*.js (fetched from Debian's nodejs source package into
# build/node-tests/) run against the addon; ends with "N passed, N failed, N skipped".
node-conformance: node
	@bash scripts/node-conformance.sh build

# The loopback benchmark suite on a release build; QUICK=1 for a short run; SCENARIOS=a,b
# runs only those scenarios (sink, sink-gso, echo, latency, send, bulk, large, shards).
bench:
	@$(BOOTSTRAP) bench
	@$(SETUP) build-release -Dbuildtype=release -Dtests=false
	@$(NINJA) -C build-release
	@if [ ! -f bench/run.sh ]; then echo "make bench: bench/run.sh does not exist yet" >&2; exit 1; fi
	@QUICK="$(QUICK)" BUILD_DIR="$(CURDIR)/build-release" \
		$(if $(SCENARIOS),BENCH_SCENARIOS="$(SCENARIOS)") bash bench/run.sh

# The unit tests under AddressSanitizer and UndefinedBehaviorSanitizer, with the engine's
# test-only fault hooks compiled in (so the injected-fault tests run here instead of skipping).
asan:
	@$(BOOTSTRAP)
	@$(SETUP) build-asan -Db_sanitize=address,undefined -Db_lundef=false \
		-Dbenchmarks=false -Dexamples=false -Dfault_injection=true
	@$(NINJA) -C build-asan
	@$(RUN_TESTS) build-asan --timeout-multiplier 3 --summary-file build-asan/test-summary.txt

# Everything (library, tests, benchmarks, examples) compiles without a warning.
werror:
	@$(BOOTSTRAP)
	@$(SETUP) build-werror -Dwerror=true
	@$(NINJA) -C build-werror
	@echo "werror: every target compiled without warnings"

# Checks owned by their scripts; each target fails clearly until its script exists.
stress fuzz valgrind tsan:
	@$(BOOTSTRAP)
	@if [ ! -f scripts/$@.sh ]; then echo "make $@: scripts/$@.sh does not exist yet" >&2; exit 1; fi
	@bash scripts/$@.sh

format:
	@$(CLANG_FORMAT) -i $(FORMAT_FILES)

format-check:
	@$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_FILES)
	@echo "format-check: $(words $(FORMAT_FILES)) files match .clang-format"

clean:
	rm -rf build build-*
