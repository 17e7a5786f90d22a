#!/usr/bin/env python3
"""scripts/run-tests.py — runs the meson tests of one build directory and counts test cases.

Criterion programs are run with --tap and every test case in them counts; so does every
top-level case of a program registered with meson's `protocol : 'tap'` (TAP on stdout, e.g.
`node --test --test-reporter=tap`); any other program counts as one test (exit 0 pass, 77 skip, anything else fail). A program that crashes, times
out or exits non-zero without a failing case counts as one more failure. Prints the failures'
names and output, then, as the very last line, "N passed, N failed, N skipped".
Each program's full output is kept in BUILD_DIR/test-logs/NAME.log. Never builds anything and
never changes the source tree: run ninja first.

usage: run-tests.py BUILD_DIR [--suite unit --suite api] [--wrapper CMD] [--timeout-multiplier N]
"""

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

TAP_RESULT = re.compile(r"^(ok|not ok)\b(?:\s+\d+)?\s*(?:-\s*)?(.*)$")
TAP_PLAN = re.compile(r"^1\.\.(\d+)")
# Sanitizer reports from Criterion's worker processes (leaks found at a worker's exit, data
# races, recovered UB) do not change the test's result, so the output is searched for them.
SANITIZER_REPORT = re.compile(r"^(==\d+==ERROR: \w+Sanitizer|SUMMARY: \w+Sanitizer|"
			      r"WARNING: ThreadSanitizer|.*:\d+:\d+: runtime error: )", re.M)
SKIP_EXIT = 77  # the automake/meson convention for "this test cannot run here"
OUTPUT_TAIL = 120  # lines of a failing program's output shown; the whole is in BUILD_DIR/test-logs


class Result:
	def __init__(self):
		self.passed = 0
		self.failed = []   # (name, detail)
		self.skipped = []  # (name, reason)


def load_tests(build_dir, suites):
	out = subprocess.run(["meson", "introspect", "--tests", build_dir], check=True,
			     stdout=subprocess.PIPE, text=True).stdout
	tests = []
	for t in json.loads(out):
		# meson names suites "project:suite"; accept either spelling on the command line
		names = set(t["suite"]) | {s.split(":", 1)[-1] for s in t["suite"]}
		if names & set(suites):
			tests.append(t)
	return tests


def is_criterion(path):
	try:
		with open(path, "rb") as f:
			return b"libcriterion.so" in f.read()
	except OSError:
		return False


def run(cmd, env, cwd, timeout):
	"""Runs cmd in its own process group; returns (exit status or None on timeout, output)."""
	proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
				stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
				start_new_session=True)
	try:
		out, _ = proc.communicate(timeout=timeout)
		return proc.returncode, out.decode(errors="replace")
	except subprocess.TimeoutExpired:
		os.killpg(proc.pid, signal.SIGKILL)
		out, _ = proc.communicate()
		return None, out.decode(errors="replace")


def parse_tap(text, res):
	"""Counts TAP results into res; returns (results seen, plan or None)."""
	seen, plan, last_fail = 0, None, None
	for line in text.splitlines():
		m = TAP_PLAN.match(line)
		if m:
			plan = int(m.group(1))
			continue
		m = TAP_RESULT.match(line)
		if not m:
			# Criterion's YAML block under a "not ok" holds the failed assertions
			if last_fail is not None and line.startswith("  "):
				res.failed[last_fail] = (res.failed[last_fail][0],
							 res.failed[last_fail][1] + line + "\n")
			elif not line.startswith("  "):
				last_fail = None
			continue
		seen += 1
		ok, rest = m.group(1) == "ok", m.group(2)
		name, _, directive = rest.partition("#")
		name = re.sub(r"\s+\([\d.]+s\)\s*$", "", name).strip()
		if directive.strip().upper().startswith("SKIP"):
			res.skipped.append((name, directive.strip()[4:].strip()))
			last_fail = None
		elif ok:
			res.passed += 1
			last_fail = None
		else:
			res.failed.append((name, ""))
			last_fail = len(res.failed) - 1
	return seen, plan


def tail(text, n=OUTPUT_TAIL):
	lines = text.rstrip("\n").splitlines()
	if len(lines) > n:
		lines = ["[... %d earlier lines cut ...]" % (len(lines) - n)] + lines[-n:]
	return "\n".join(lines)


def run_one(t, args, logdir):
	res = Result()
	cmd = list(t["cmd"])
	crit = is_criterion(cmd[0])
	tap = os.path.join(logdir, t["name"] + ".tap")
	if os.path.exists(tap):
		os.unlink(tap)
	if crit:
		# meson's own TAP goes to stdout (tests/meson.build); here it goes to a file, apart
		# from whatever the tests print.
		cmd = [c for c in cmd if not c.startswith("--tap")] + ["--tap=" + tap]
	cmd = args.wrapper + cmd
	env = dict(os.environ)
	env.update(t.get("env") or {})
	timeout = (t.get("timeout") or 30) * args.timeout_multiplier
	if timeout <= 0:
		timeout = None

	status, output = run(cmd, env, t.get("workdir") or args.build_dir, timeout)
	with open(os.path.join(logdir, t["name"] + ".log"), "w") as f:
		f.write(output)
	prog = t["name"]
	if not crit and t.get("protocol") == "tap":
		return tap_result(res, prog, parse_tap(output, res), status, timeout), output
	if not crit:
		if status == 0:
			res.passed += 1
		elif status == SKIP_EXIT:
			res.skipped.append((prog, "exit status 77"))
		else:
			why = "timed out after %ds" % timeout if status is None else describe(status)
			res.failed.append((prog, why + "\n"))
		return res, output

	text = ""
	if os.path.exists(tap):
		with open(tap, errors="replace") as f:
			text = f.read()
	seen, plan = parse_tap(text, res)
	if plan is not None and seen < plan:
		res.failed.append((prog, "%d of %d tests never reported a result\n" % (plan - seen, plan)))
	if status is None:
		res.failed.append((prog, "timed out after %ds and was killed\n" % timeout))
	elif status != 0 and not res.failed:
		res.failed.append((prog, "%s, with no failing test case reported\n" % describe(status)))
	if not res.failed and SANITIZER_REPORT.search(output):
		res.failed.append((prog, "a sanitizer reported an error (see its output below)\n"))
	return res, output


def tap_result(res, prog, seen_plan, status, timeout):
	"""Adds the program-level failures of a TAP program (missing results, crash, timeout)."""
	seen, plan = seen_plan
	if plan is not None and seen < plan:
		res.failed.append((prog, "%d of %d tests never reported a result\n" % (plan - seen, plan)))
	if status is None:
		res.failed.append((prog, "timed out after %ds and was killed\n" % timeout))
	elif status == SKIP_EXIT and seen == 0:
		res.skipped.append((prog, "exit status 77"))
	elif status != 0 and not res.failed:
		res.failed.append((prog, "%s, with no failing test case reported\n" % describe(status)))
	elif seen == 0 and not res.failed:
		res.failed.append((prog, "reported no TAP results\n"))
	return res


def describe(status):
	if status < 0:
		try:
			return "killed by signal %s" % signal.Signals(-status).name
		except ValueError:
			return "killed by signal %d" % -status
	return "exit status %d" % status


def main():
	ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
	ap.add_argument("build_dir")
	ap.add_argument("--suite", action="append", help="meson suite(s) to run (default: unit, api, node)")
	ap.add_argument("--wrapper", default=os.environ.get("UDG_TEST_WRAPPER", ""),
			help="command to run each test program under (e.g. 'valgrind -q')")
	ap.add_argument("--timeout-multiplier", type=float,
			default=float(os.environ.get("UDG_TEST_TIMEOUT_MULTIPLIER", "1")))
	ap.add_argument("--summary-file", help="also write 'passed failed skipped' here")
	args = ap.parse_args()
	args.wrapper = shlex.split(args.wrapper)
	suites = args.suite or ["unit", "api", "node"]

	tests = load_tests(args.build_dir, suites)
	total = Result()
	failed_output = []
	logdir = os.path.abspath(os.path.join(args.build_dir, "test-logs"))
	os.makedirs(logdir, exist_ok=True)
	for t in tests:
		start = time.monotonic()
		res, output = run_one(t, args, logdir)
		secs = time.monotonic() - start
		mark = "FAIL" if res.failed else "ok  "
		print("%s %-24s %4d passed, %d failed, %d skipped  (%.1fs)" %
		      (mark, t["name"], res.passed, len(res.failed), len(res.skipped), secs),
		      flush=True)
		total.passed += res.passed
		total.failed += res.failed
		total.skipped += res.skipped
		if res.failed:
			failed_output.append((t["name"], output))

	for name, reason in total.skipped:
		print("skipped: %s%s" % (name, " (%s)" % reason if reason else ""))
	if total.failed:
		print("\n==== failures ====")
		for name, detail in total.failed:
			print("FAILED: %s" % name)
			if detail:
				print(detail.rstrip("\n"))
		for prog, output in failed_output:
			print("\n---- output of %s (all of it: %s) ----"
			      % (prog, os.path.join(logdir, prog + ".log")))
			print(tail(output) if output.strip() else "(no output)")
		print()

	n_pass, n_fail, n_skip = total.passed, len(total.failed), len(total.skipped)
	if not tests:
		print("no test programs found in suites %s of %s" % (", ".join(suites), args.build_dir))
		n_fail = 1
	if args.summary_file:
		with open(args.summary_file, "w") as f:
			f.write("%d %d %d\n" % (n_pass, n_fail, n_skip))
	print("%d passed, %d failed, %d skipped" % (n_pass, n_fail, n_skip), flush=True)
	return 1 if n_fail else 0


if __name__ == "__main__":
	sys.exit(main())
