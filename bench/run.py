#!/usr/bin/env python3
"""bench/run.py — orchestrates the loopback benchmark suite (`make bench` runs it via run.sh).

For every scenario x size it runs each implementation in turn within a repetition (A B C ... A B
C ...), each role in its own process pinned to its own core, and reports medians, min-max and
ratios to the raw recvmmsg/sendmmsg base computed within the same repetition. The classic
scenarios put the implementation under test against a fixed raw C driver; bulk and large run
an implementation's own sender into its own receiver. It only measures and reports: it never
asserts, and never changes system settings. Python 3 stdlib only.
"""

import argparse
import datetime
import json
import math
import os
import platform
import select
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

IMPLS = ["mmsg", "epoll", "libuv", "node", "udg", "udg-epoll", "udg-node", "udg-meta", "gso"]
SCENARIOS = ["sink", "sink-gso", "echo", "latency", "send", "bulk", "large", "shards"]
SIZES = [64, 512, 1400]
CLASSIC = ["mmsg", "epoll", "libuv", "node", "udg", "udg-epoll", "udg-node"]
# Which implementations take part in each scenario, of those selected and built. udg-meta is
# bench_udg's receiver with receive metadata on (ECN + PKTINFO), beside plain udg in the sink;
# gso is the raw UDP_SEGMENT -> UDP_GRO pair, the bulk scenario's kernel ceiling, and in
# sink-gso the raw UDP_GRO receiver.
SCENARIO_IMPLS = {
    "sink": CLASSIC + ["udg-meta"],
    "sink-gso": CLASSIC + ["udg-meta", "gso"],
    "echo": CLASSIC,
    "latency": CLASSIC,
    "send": CLASSIC,
    "bulk": CLASSIC + ["gso"],
    "large": ["mmsg", "udg", "udg-epoll"],
}
# Scenarios that run an implementation against itself: its send role into its sink role.
PAIRED = ("bulk", "large")
# Their payload sizes are part of the scenario, not of --sizes: 1200 B (a QUIC-sized datagram)
# and the largest IPv4 UDP payload; sink-gso's trains are of 1200-byte datagrams too.
FIXED_SIZES = {"sink-gso": [1200], "bulk": [1200], "large": [65507]}
# Bases every implementation of a scenario is also divided by, beside mmsg: the bulk rows over
# the kernel's GSO/GRO ceiling, the sink-gso rows over the raw UDP_GRO receiver.
EXTRA_BASES = {"sink-gso": ["gso"], "bulk": ["gso"]}
FULL_REPS = 3          # a full run: every impl, scenario and size, FULL_REPS x FULL_DURATION_S
FULL_DURATION_S = 1.0
INFLIGHT = 64          # echo: datagrams the client keeps in flight
RCVBUF = 4 << 20       # SO_RCVBUF every receiver asks for (the kernel doubles it)
NOISE_LIMIT = 0.10     # other processes' share of the machine above which a run is repeated once
READY_TIMEOUT_S = 10.0
EXIT_SLACK_S = 15.0    # beyond duration + the receivers' grace, a role program is killed

# What each scenario reports. (metric, column title, format, better, headline)
METRICS = {
    "sink": [
        ("cpu_ns_per_dgram", "rx cpu ns/dgram", "{:.0f}", "lower", True),
        ("recv_per_s", "received/s", "{:,.0f}", "higher", False),
        ("blast_per_s", "blasted/s", "{:,.0f}", "higher", False),
        ("drop_pct", "drop %", "{:.1f}", "lower", False),
        ("rcvbuf_errors", "RcvbufErrors", "{:,.0f}", "lower", False),
    ],
    "sink-gso": [
        ("cpu_ns_per_dgram", "rx cpu ns/dgram", "{:.0f}", "lower", True),
        ("recv_per_s", "delivered/s", "{:,.0f}", "higher", False),
        ("blast_per_s", "sent/s", "{:,.0f}", "higher", False),
        ("loss", "lost", "{:,.0f}", "lower", False),
        ("drop_pct", "lost %", "{:.1f}", "lower", False),
        ("truncated", "truncated", "{:,.0f}", "lower", False),
        ("rcvbuf_errors", "RcvbufErrors", "{:,.0f}", "lower", False),
    ],
    "echo": [
        ("round_trips_per_s", "round trips/s", "{:,.0f}", "higher", True),
        ("cpu_ns_per_dgram", "srv cpu ns/dgram", "{:.0f}", "lower", False),
        ("lost", "lost", "{:,.0f}", "lower", False),
    ],
    "latency": [
        ("p50_us", "RTT p50 us", "{:.1f}", "lower", True),
        ("p99_us", "RTT p99 us", "{:.1f}", "lower", True),
        ("cpu_ns_per_dgram", "srv cpu ns/dgram", "{:.0f}", "lower", False),
        ("samples", "samples", "{:,.0f}", "higher", False),
    ],
    "send": [
        ("sent_per_s", "sent/s", "{:,.0f}", "higher", True),
        ("delivered_per_s", "delivered/s", "{:,.0f}", "higher", False),
        ("cpu_ns_per_dgram", "tx cpu ns/dgram", "{:.0f}", "lower", False),
    ],
    "bulk": [
        ("delivered_per_s", "delivered/s", "{:,.0f}", "higher", True),
        ("sent_per_s", "sent/s", "{:,.0f}", "higher", False),
        ("loss", "lost", "{:,.0f}", "lower", False),
        ("loss_pct", "lost %", "{:.1f}", "lower", False),
        ("truncated", "truncated", "{:,.0f}", "lower", False),
        ("cpu_ns_per_dgram", "rx cpu ns/dgram", "{:.0f}", "lower", False),
        ("tx_cpu_ns_per_dgram", "tx cpu ns/dgram", "{:.0f}", "lower", False),
        ("rcvbuf_errors", "RcvbufErrors", "{:,.0f}", "lower", False),
    ],
    "large": [
        ("delivered_mb_per_s", "whole MB/s", "{:,.0f}", "higher", True),
        ("delivered_per_s", "delivered/s", "{:,.0f}", "higher", False),
        ("sent_per_s", "sent/s", "{:,.0f}", "higher", False),
        ("loss", "lost", "{:,.0f}", "lower", False),
        ("truncated", "truncated", "{:,.0f}", "lower", False),
        ("cpu_ns_per_dgram", "rx cpu ns/dgram", "{:.0f}", "lower", False),
        ("rcvbuf_errors", "RcvbufErrors", "{:,.0f}", "lower", False),
    ],
}
# Other processes' share of the two cores during the run (every scenario, last column).
NOISE_METRIC = ("noise_pct", "noise %", "{:.0f}", "lower", False)
# The io_uring counters, of bench_udg on io_uring (udg, and udg-meta in the sink; any scenario).
UDG_RING_IMPLS = ("udg", "udg-meta")
UDG_METRICS = [
    ("enters_per_dgram", "enters/dgram", "{:.3f}", "lower", False),
    ("cqes_per_iter", "CQEs/iter", "{:.1f}", "higher", False),
    ("dgrams_per_enter", "dgrams/enter", "{:.1f}", "higher", False),
]


# ---- Machine facts ------------------------------------------------------------------------

def read_file(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def cpu_model():
    for line in read_file("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def sysctl(name):
    val = read_file("/proc/sys/" + name.replace(".", "/")).strip()
    return int(val) if val.lstrip("-").isdigit() else (val or None)


def cpu_times():
    """Per-core busy jiffies from /proc/stat: user+nice+system+steal (irq/softirq left out, so
    the estimate does not depend on whether the kernel accounts them to tasks)."""
    busy = {}
    for line in read_file("/proc/stat").splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            f = line.split()
            v = [int(x) for x in f[1:]]
            busy[int(f[0][3:])] = v[0] + v[1] + v[2] + (v[7] if len(v) > 7 else 0)
    return busy


def background_load(seconds):
    """Share of all CPUs busy over `seconds` while we sleep: how loaded the machine is."""
    b0, t0 = cpu_times(), time.monotonic()
    time.sleep(seconds)
    b1, t1 = cpu_times(), time.monotonic()
    busy = sum(b1[c] - b0.get(c, 0) for c in b1) / os.sysconf("SC_CLK_TCK")
    return 100.0 * busy / ((t1 - t0) * max(1, len(b1)))


def cpu_list(text):
    """A kernel CPU list ("0-3,8") as a set of ints."""
    out = set()
    for part in text.strip().split(","):
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.update(range(int(lo), int(hi) + 1))
        elif part.strip().isdigit():
            out.add(int(part))
    return out


def pick_cpus():
    """The two CPUs the roles run on: BENCH_CPUS=a,b when set; otherwise the first CPU this
    process may use, and the next one that is not its SMT sibling (on a bigger box two
    hyperthreads of one core would share their caches and execution units), falling back to
    the next CPU at all. Returns (first, second, notes)."""
    cpus = sorted(os.sched_getaffinity(0))
    want = os.environ.get("BENCH_CPUS")
    if want:
        picked = [int(c) for c in want.split(",") if c.strip()]
        if len(picked) != 2 or not set(picked) <= set(cpus):
            raise SystemExit(f"BENCH_CPUS={want}: want two CPUs of {cpus}")
        return picked[0], picked[1], []
    if len(cpus) < 2:
        return cpus[0], cpus[0], ["only one CPU available: the two roles share it"]
    siblings = cpu_list(read_file(
        f"/sys/devices/system/cpu/cpu{cpus[0]}/topology/thread_siblings_list", str(cpus[0])))
    other = next((c for c in cpus[1:] if c not in siblings), cpus[1])
    return cpus[0], other, []


def udp_snmp():
    lines = [l.split() for l in read_file("/proc/net/snmp").splitlines() if l.startswith("Udp:")]
    if len(lines) < 2:
        return {}
    return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:])}


def git_commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


# ---- Processes -----------------------------------------------------------------------------

class Role:
    """One role program: started pinned to a core, read for READY, waited for its JSON line."""

    def __init__(self, argv, cpu, name):
        self.name = name
        self.buf = b""
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))

    def ready(self, timeout=READY_TIMEOUT_S):
        """Wait for "READY <port>"; return the port."""
        end = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise RuntimeError(f"{self.name}: no READY within {timeout:.0f}s")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"{self.name}: exited before READY: {self.stderr()}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        if not line.startswith(b"READY "):
            raise RuntimeError(f"{self.name}: expected READY, got {line!r}")
        return int(line.split()[1])

    def stderr(self):
        try:
            return self.proc.stderr.read().decode(errors="replace").strip()[-500:]
        except (OSError, ValueError):
            return ""

    def result(self, timeout):
        """Wait for exit; return the last JSON line as a dict."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise RuntimeError(f"{self.name}: did not finish within {timeout:.0f}s (killed)")
        out = self.buf + out
        lines = [l for l in out.decode(errors="replace").splitlines() if l.startswith("{")]
        if self.proc.returncode != 0 or not lines:
            raise RuntimeError(f"{self.name}: exit {self.proc.returncode}: "
                               f"{err.decode(errors='replace').strip()[-500:]}")
        return json.loads(lines[-1])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


class Suite:
    def __init__(self, args):
        self.args = args
        self.bindir = os.path.join(args.build_dir, "bench")
        # The driver (bulk, large: the sender) gets the first core, the implementation under
        # test (the receiver) the second.
        self.driver_cpu, self.impl_cpu, self.notes = pick_cpus()
        self.node = shutil.which("node")
        self.udg_probe = {}
        self.impls = self.available_impls()

    def node_addon(self):
        return os.path.join(self.args.build_dir, "bindings", "node", "udg.node")

    def exe(self, name):
        return os.path.join(self.bindir, name)

    def available_impls(self):
        impls = []
        for impl in self.args.impls:
            if impl == "node":
                if not self.node:
                    self.notes.append("node: not installed (node not on PATH), skipped")
                    continue
            elif impl in ("udg-epoll", "udg-meta"):
                # the same bench_udg program on udg's epoll backend (UDG_BACKEND=epoll), or
                # with receive metadata on (--meta)
                if not os.access(self.exe("bench_udg"), os.X_OK):
                    self.notes.append(f"{impl}: bench_udg not built, skipped")
                    continue
                if impl == "udg-meta" and not self.probe_udg():
                    continue
            elif impl == "udg-node":
                # udg's Node addon (bindings/node) driven by the same node_peer.js
                if not self.node or not os.path.exists(self.node_addon()):
                    self.notes.append(f"udg-node: {self.node_addon()} not built, skipped")
                    continue
            elif not os.access(self.exe("bench_" + impl), os.X_OK):
                self.notes.append(f"{impl}: {self.exe('bench_' + impl)} not built, skipped")
                continue
            elif impl == "udg" and not self.probe_udg():
                continue
            impls.append(impl)
        if "mmsg" not in impls:
            raise SystemExit("bench_mmsg (the ratio base) is not built: run meson/ninja first")
        return impls

    def probe_udg(self):
        """Can a udg loop be created here (io_uring allowed, kernel new enough)?"""
        if self.udg_probe:
            return True
        try:
            r = subprocess.run([self.exe("bench_udg"), "--role", "probe"], capture_output=True,
                               text=True, timeout=10)
        except (OSError, subprocess.SubprocessError) as e:
            self.notes.append(f"udg: probe failed ({e}), skipped")
            return False
        if r.returncode != 0:
            self.notes.append(f"udg: {r.stderr.strip() or 'probe failed'}, skipped")
            return False
        self.udg_probe = json.loads(r.stdout.strip().splitlines()[-1])
        return True

    def impl_argv(self, impl, role, port, size):
        rest = ["--role", role, "--port", str(port), "--size", str(size),
                "--duration", str(self.args.duration), "--rcvbuf", str(RCVBUF)]
        if impl == "node":
            return [self.node, os.path.join(HERE, "node_peer.js")] + rest
        if impl == "udg-epoll":
            return ["env", "UDG_BACKEND=epoll", self.exe("bench_udg")] + rest
        if impl == "udg-meta":
            return [self.exe("bench_udg")] + rest + ["--meta"]
        if impl == "udg-node":
            return [self.node, os.path.join(HERE, "node_peer.js"),
                    "--module", os.path.join(ROOT, "bindings", "node"),
                    "--addon", self.node_addon()] + rest
        return [self.exe("bench_" + impl)] + rest

    def driver_argv(self, role, port, size):
        return [self.exe("bench_driver"), "--role", role, "--port", str(port), "--size",
                str(size), "--duration", str(self.args.duration), "--inflight", str(INFLIGHT),
                "--rcvbuf", str(RCVBUF)]

    def gso_driver_argv(self, port, size):
        """sink-gso's fixed driver: bench_gso's UDP_SEGMENT sender into the receiver's port."""
        return [self.exe("bench_gso"), "--role", "send", "--port", str(port), "--size",
                str(size), "--duration", str(self.args.duration)]

    # ---- one run --------------------------------------------------------------------------

    def run_once(self, scenario, size, impl):
        """Run one measurement; returns (metrics dict, raw dict)."""
        d = self.args.duration
        limit = d + 5.0 + EXIT_SLACK_S
        snmp0, busy0, t0, self0 = udp_snmp(), cpu_times(), time.monotonic(), os.times()
        server = client = None
        try:
            if scenario in PAIRED:
                # The implementation's own receiver, then its own sender.
                server = Role(self.impl_argv(impl, "sink", 0, size), self.impl_cpu,
                              impl + " receiver")
                port = server.ready()
                client = Role(self.impl_argv(impl, "send", port, size), self.driver_cpu,
                              impl + " sender")
                driver_res = client.result(limit)
                impl_res = server.result(limit)
            elif scenario == "sink-gso":
                # The receiver under test, fed by the fixed train sender: bench_gso's send
                # role (UDP_SEGMENT trains of 1200-byte datagrams), the same for every row.
                server = Role(self.impl_argv(impl, "sink", 0, size), self.impl_cpu, impl)
                port = server.ready()
                client = Role(self.gso_driver_argv(port, size), self.driver_cpu,
                              "gso driver")
                driver_res = client.result(limit)
                impl_res = server.result(limit)
            elif scenario == "send":
                server = Role(self.driver_argv("sink", 0, size), self.driver_cpu, "driver sink")
                port = server.ready()
                client = Role(self.impl_argv(impl, "send", port, size), self.impl_cpu, impl)
                tx = client.result(limit)
                rx = server.result(limit)
                impl_res, driver_res = tx, rx
            else:
                role = "sink" if scenario == "sink" else "echo"
                drole = {"sink": "blast", "echo": "echo-client",
                         "latency": "latency-client"}[scenario]
                server = Role(self.impl_argv(impl, role, 0, size), self.impl_cpu, impl)
                port = server.ready()
                client = Role(self.driver_argv(drole, port, size), self.driver_cpu, "driver")
                driver_res = client.result(limit)
                impl_res = server.result(limit)
        finally:
            for p in (client, server):
                if p:
                    p.kill()
        if impl == "udg-meta" and impl_res.get("meta_seen") != impl_res.get("count"):
            # The row means nothing unless every datagram carried the metadata it asked for.
            raise RuntimeError(f"udg-meta: {impl_res.get('meta_seen')} of "
                               f"{impl_res.get('count')} datagrams carried ECN+PKTINFO")
        t1, busy1, snmp1, self1 = time.monotonic(), cpu_times(), udp_snmp(), os.times()
        wall = t1 - t0
        hz = os.sysconf("SC_CLK_TCK")
        cores = {self.driver_cpu, self.impl_cpu}
        busy = sum(busy1.get(c, 0) - busy0.get(c, 0) for c in cores) / hz
        ours = (impl_res.get("cpu_total_ns", 0) + driver_res.get("cpu_total_ns", 0)) / 1e9
        ours += (self1.user - self0.user) + (self1.system - self0.system)
        noise = max(0.0, busy - ours) / (wall * len(cores))
        m = self.metrics(scenario, impl_res, driver_res)
        m["noise_pct"] = 100.0 * noise
        m["rcvbuf_errors"] = snmp1.get("RcvbufErrors", 0) - snmp0.get("RcvbufErrors", 0)
        if scenario not in ("sink", "sink-gso") + PAIRED:
            del m["rcvbuf_errors"]
        return m, {"impl": impl_res, "driver": driver_res, "noise": noise, "wall_s": wall}

    @staticmethod
    def metrics(scenario, r, drv):
        m = {}
        count = r.get("count", 0)
        if count:
            m["cpu_ns_per_dgram"] = r["cpu_ns"] / count
        if scenario in ("sink", "sink-gso"):
            # The blaster reports "sent", sink-gso's train sender (bench_gso) "count".
            sent = drv["sent"] if scenario == "sink" else drv["count"]
            secs = drv["wall_ns"] / 1e9
            m["recv_per_s"] = count / secs
            m["blast_per_s"] = sent / secs
            m["drop_pct"] = 100.0 * (sent - count) / sent if sent else 0.0
            if scenario == "sink-gso":
                m["loss"] = sent - count
                m["truncated"] = r.get("truncated", 0)
        elif scenario == "echo":
            m["round_trips_per_s"] = drv["round_trips"] / (drv["wall_ns"] / 1e9)
            m["lost"] = drv["lost"]
        elif scenario == "latency":
            m["p50_us"] = drv["p50_ns"] / 1e3
            m["p99_us"] = drv["p99_ns"] / 1e3
            m["samples"] = drv["samples"]
        elif scenario == "send":
            secs = r["wall_ns"] / 1e9
            m["sent_per_s"] = count / secs
            m["delivered_per_s"] = drv["received"] / secs
        elif scenario in PAIRED:
            # r: the receiver, drv: the sender (same implementation). Rates over the
            # sender's window; what the receiver still drained after it is a few ms' worth.
            secs = drv["wall_ns"] / 1e9
            sent = drv.get("count", 0)
            m["delivered_per_s"] = count / secs
            m["sent_per_s"] = sent / secs
            m["loss"] = sent - count
            m["loss_pct"] = 100.0 * (sent - count) / sent if sent else 0.0
            m["truncated"] = r.get("truncated", 0)
            m["delivered_mb_per_s"] = r.get("bytes", 0) / secs / 1e6
            if sent:
                m["tx_cpu_ns_per_dgram"] = drv["cpu_ns"] / sent
        if "enters" in r:
            dgrams = r.get("datagrams_received", 0) + r.get("datagrams_sent", 0)
            if dgrams:
                m["enters_per_dgram"] = r["enters"] / dgrams
            if r.get("enters"):
                m["dgrams_per_enter"] = dgrams / r["enters"]
            if r.get("iterations"):
                m["cqes_per_iter"] = r["cqes_reaped"] / r["iterations"]
        return m

    # ---- the whole suite ------------------------------------------------------------------

    def run(self):
        a = self.args
        total = sum(len(scenario_sizes(sc, a.sizes)) * a.reps * len(scenario_impls(sc, self.impls))
                    for sc in a.scenarios)
        done = 0
        start = time.monotonic()
        samples = {}   # (scenario, size, impl) -> [metrics per rep]
        raws = {}      # impl -> a raw result (versions, rcvbuf, features)
        noise = []
        reruns = 0
        failures = []
        for scenario in a.scenarios:
            for size in scenario_sizes(scenario, a.sizes):
                for rep in range(a.reps):
                    for impl in scenario_impls(scenario, self.impls):
                        done += 1
                        self.progress(done, total, scenario, size, impl, rep, start)
                        try:
                            m, raw = self.run_once(scenario, size, impl)
                            if raw["noise"] > NOISE_LIMIT and self.may_rerun(done, total,
                                                                               start):
                                reruns += 1
                                m2, raw2 = self.run_once(scenario, size, impl)
                                if raw2["noise"] < raw["noise"]:
                                    m, raw = m2, raw2
                        except (RuntimeError, KeyError, ValueError, OSError) as e:
                            failures.append(f"{scenario} size={size} {impl} rep {rep + 1}: {e}")
                            m, raw = None, None
                        samples.setdefault((scenario, size, impl), []).append(m)
                        if raw:
                            noise.append(raw["noise"])
                            raws.setdefault(impl, {}).setdefault(scenario, raw["impl"])
        self.progress_end(start)
        return samples, raws, noise, reruns, failures, time.monotonic() - start

    def may_rerun(self, done, total, start):
        """A noisy run is repeated only while the projected total stays within the budget."""
        el = time.monotonic() - start
        per_run = el / done
        return el + per_run * (total - done + 1) <= self.args.budget

    def progress(self, done, total, scenario, size, impl, rep, start):
        el = time.monotonic() - start
        eta = el / (done - 1) * (total - done + 1) if done > 1 else 0
        line = (f"[{done}/{total}] {scenario} size={size} impl={impl} rep {rep + 1}/"
                f"{self.args.reps}  elapsed {el:.0f}s eta {eta:.0f}s")
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def progress_end(self, start):
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[K")
        sys.stderr.write(f"benchmark runs done in {time.monotonic() - start:.0f}s\n")


# ---- Aggregation and reporting -------------------------------------------------------------

def scenario_sizes(scenario, sizes):
    """The payload sizes a scenario runs: its own (bulk, large) or the run's."""
    return FIXED_SIZES.get(scenario, sizes)


def scenario_impls(scenario, impls):
    """The run's implementations that take part in a scenario, in the run's order."""
    return [i for i in impls if i in SCENARIO_IMPLS.get(scenario, CLASSIC)]


def rep_ratios(samples, scenario, size, impl, base, name):
    """impl / base for one metric, per repetition (both from the same repetition)."""
    return [r[name] / b[name]
            for r, b in zip(samples.get((scenario, size, impl), []),
                            samples.get((scenario, size, base), []))
            if r and b and name in r and b.get(name)]

def aggregate(samples, impls, scenarios, sizes):
    """One record per scenario x size x impl x metric: median, min, max and the median of the
    per-repetition ratios to mmsg (and to the scenario's EXTRA_BASES, and for udg-meta to
    udg)."""
    records = []
    for scenario in scenarios:
        present = scenario_impls(scenario, impls)
        for size in scenario_sizes(scenario, sizes):
            for impl in present:
                reps = samples.get((scenario, size, impl), [])
                names = [m[0] for m in METRICS[scenario]] + [NOISE_METRIC[0]]
                if impl in UDG_RING_IMPLS:
                    names += [m[0] for m in UDG_METRICS]
                bases = EXTRA_BASES.get(scenario, []) + (["udg"] if impl == "udg-meta" else [])
                for name in names:
                    vals = [r[name] for r in reps if r and name in r]
                    if not vals:
                        continue
                    ratios = rep_ratios(samples, scenario, size, impl, "mmsg", name)
                    rec = {
                        "scenario": scenario, "size": size, "impl": impl, "metric": name,
                        "median": statistics.median(vals), "min": min(vals), "max": max(vals),
                        "ratio_to_mmsg": statistics.median(ratios) if ratios else None,
                        "ratio_min": min(ratios) if ratios else None,
                        "ratio_max": max(ratios) if ratios else None,
                        "reps": len(vals),
                    }
                    for base in bases:
                        br = rep_ratios(samples, scenario, size, impl, base, name)
                        rec[f"ratio_to_{base}"] = statistics.median(br) if br else None
                        rec[f"ratio_to_{base}_min"] = min(br) if br else None
                        rec[f"ratio_to_{base}_max"] = max(br) if br else None
                    if impl == "udg":
                        rec["udg_ratio_to"] = ratios_to_peers(samples, scenario, size, name,
                                                              present)
                    records.append(rec)
    return records


def ratios_to_peers(samples, scenario, size, name, impls):
    """udg / peer for one metric: the median of the ratios within each repetition."""
    out = {}
    for peer in impls:
        if peer == "udg":
            continue
        ratios = rep_ratios(samples, scenario, size, "udg", peer, name)
        out[peer] = statistics.median(ratios) if ratios else None
    return out


HEADLINES = [("sink", "cpu_ns_per_dgram", "receiver CPU ns/dgram (lower is better)"),
             ("sink-gso", "cpu_ns_per_dgram",
              "sink-gso receiver CPU ns/dgram (lower is better)"),
             ("echo", "round_trips_per_s", "echo round trips/s (higher is better)"),
             ("latency", "p50_us", "K=1 RTT p50 (lower is better)"),
             ("latency", "p99_us", "K=1 RTT p99 (lower is better)"),
             ("send", "sent_per_s", "send datagrams/s (higher is better)"),
             ("bulk", "delivered_per_s", "bulk datagrams/s delivered (higher is better)"),
             ("large", "delivered_mb_per_s", "large bytes/s delivered whole (higher is better)")]


def udg_vs_peers(records, impls, scenarios, sizes, markdown=False):
    """udg's headline metrics as ratios to every peer (udg-meta has its own section)."""
    peers = [i for i in impls if i not in ("udg", "udg-meta")]
    head = ["metric", "size"] + [f"udg/{p}" for p in peers]
    rows = []
    for scenario, metric, label in HEADLINES:
        if scenario not in scenarios:
            continue
        for size in scenario_sizes(scenario, sizes):
            rec = find(records, scenario, size, "udg", metric)
            if not rec:
                continue
            row = [label, str(size)]
            for p in peers:
                r = rec["udg_ratio_to"].get(p)
                row.append(f"{r:.2f}" if r is not None else "-")
            rows.append(row)
    if not rows:
        return ""
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    out = ["  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i])
                     for i, h in enumerate(head))]
    for r in rows:
        out.append("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                             for i, c in enumerate(r)))
    return "\n".join(out) + "\n"


def find(records, scenario, size, impl, metric):
    for r in records:
        if (r["scenario"], r["size"], r["impl"], r["metric"]) == (scenario, size, impl, metric):
            return r
    return None


def fmt_cell(fmt, rec, with_range):
    if rec is None:
        return "-"
    s = fmt.format(rec["median"])
    if with_range and rec["min"] != rec["max"]:
        s += " (" + fmt.format(rec["min"]) + "-" + fmt.format(rec["max"]) + ")"
    return s


def table(records, impls, scenarios, sizes, markdown=False):
    """The results as text: one block per scenario, a row per size x impl."""
    out = []
    for scenario in scenarios:
        present = scenario_impls(scenario, impls)
        cols = METRICS[scenario] + [NOISE_METRIC]
        extra = UDG_METRICS if "udg" in present else []
        bases = ["mmsg"] + EXTRA_BASES.get(scenario, [])
        head = ["size", "impl"]
        for _, title, _, better, headline in cols:
            head.append(title)
            if headline:
                head += [f"x {b}" for b in bases]
        head += [t for _, t, _, _, _ in extra]
        rows = []
        for size in scenario_sizes(scenario, sizes):
            for impl in present:
                row = [str(size), impl]
                for name, _, fmt, _, headline in cols:
                    rec = find(records, scenario, size, impl, name)
                    row.append(fmt_cell(fmt, rec, headline))
                    if headline:
                        for b in bases:
                            ratio = rec and rec.get(f"ratio_to_{b}")
                            row.append(f"{ratio:.2f}" if ratio is not None and rec else "-")
                for name, _, fmt, _, _ in extra:
                    rec = find(records, scenario, size, impl, name)
                    row.append(fmt_cell(fmt, rec, False) if impl in UDG_RING_IMPLS else "")
                rows.append(row)
        if not rows:
            continue
        title = {
            "sink": "sink: fixed sendmmsg blaster -> receiver under test",
            "sink-gso": "sink-gso: fixed UDP_SEGMENT train sender (54 x 1200 B) -> receiver "
                        "under test",
            "echo": f"echo: fixed client keeps {INFLIGHT} in flight -> echo server under test",
            "latency": "latency: fixed client, K=1 ping-pong -> echo server under test",
            "send": "send: sender under test -> fixed recvmmsg sink",
            "bulk": "bulk: sender under test, per-datagram sends flat out -> its own receiver",
            "large": "large: 65507-byte datagrams, sender under test -> its own receiver",
        }[scenario]
        if markdown:
            out.append(f"### {title}\n")
            out.append("| " + " | ".join(head) + " |")
            out.append("|" + "|".join("---" for _ in head) + "|")
            out += ["| " + " | ".join(r) + " |" for r in rows]
            out.append("")
        else:
            widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
            out.append(f"== {title}")
            out.append("  ".join(h.rjust(w) for h, w in zip(head, widths)))
            for i, r in enumerate(rows):
                if i and i % len(present) == 0:
                    out.append("")
                out.append("  ".join(c.rjust(w) for c, w in zip(r, widths)))
            out.append("")
    return "\n".join(out)


def metadata_cost(records, sizes):
    """The udg-meta rows: receiver CPU per datagram with receive metadata on over plain udg's,
    per size, from the same run (median of the per-repetition ratios, min-max); each line with
    whether the receiver saw metadata at all. Empty when udg-meta did not run."""
    lines = []
    for size in scenario_sizes("sink", sizes):
        meta = find(records, "sink", size, "udg-meta", "cpu_ns_per_dgram")
        plain = find(records, "sink", size, "udg", "cpu_ns_per_dgram")
        if not meta or not plain or meta.get("ratio_to_udg") is None:
            continue
        lines.append(f"size={size:<5d} udg-meta {meta['median']:.0f} ns/dgram, udg "
                     f"{plain['median']:.0f} ns/dgram: x udg {meta['ratio_to_udg']:.3f} "
                     f"({meta['ratio_to_udg_min']:.3f}-{meta['ratio_to_udg_max']:.3f})")
    return lines


# The targets udg is judged on: (label, scenario, impl, metric, comparison, bound, base). A
# base names the ratio compared ("mmsg", "gso", "udg"); None compares the metric's largest value
# over the repetitions itself (for counts that must be zero).
TARGETS = [
    ("receiver CPU/dgram <= 0.90 x mmsg", "sink", "udg", "cpu_ns_per_dgram", "le", 0.90, "mmsg"),
    ("sink-gso receiver CPU/dgram <= 0.30 x mmsg", "sink-gso", "udg", "cpu_ns_per_dgram", "le",
     0.30, "mmsg"),
    ("echo round trips/s >= 1.00 x mmsg", "echo", "udg", "round_trips_per_s", "ge", 1.00,
     "mmsg"),
    ("K=1 RTT p50 <= 1.05 x mmsg", "latency", "udg", "p50_us", "le", 1.05, "mmsg"),
    ("K=1 RTT p99 <= 1.05 x mmsg", "latency", "udg", "p99_us", "le", 1.05, "mmsg"),
    ("send datagrams/s >= 1.00 x mmsg", "send", "udg", "sent_per_s", "ge", 1.00, "mmsg"),
    ("metadata rx CPU/dgram <= 1.05 x udg", "sink", "udg-meta", "cpu_ns_per_dgram", "le", 1.05,
     "udg"),
    ("bulk delivered/s >= 10 x mmsg", "bulk", "udg", "delivered_per_s", "ge", 10.0, "mmsg"),
    ("bulk delivered/s >= 0.60 x gso", "bulk", "udg", "delivered_per_s", "ge", 0.60, "gso"),
    ("bulk lost == 0 (every rep)", "bulk", "udg", "loss", "le", 0, None),
    ("bulk truncated == 0 (every rep)", "bulk", "udg", "truncated", "le", 0, None),
    ("large bytes/s whole >= 0.90 x mmsg", "large", "udg", "delivered_mb_per_s", "ge", 0.90,
     "mmsg"),
    ("large truncated == 0 (every rep)", "large", "udg", "truncated", "le", 0, None),
]


def targets(records, scenarios, sizes):
    """The targets as (text line, met or None) for udg."""
    lines = []
    for label, scenario, impl, metric, cmp, bound, base in TARGETS:
        if scenario not in scenarios:
            continue
        for size in scenario_sizes(scenario, sizes):
            rec = find(records, scenario, size, impl, metric)
            value = rec and (rec.get(f"ratio_to_{base}") if base else rec["max"])
            if value is None:
                lines.append((f"{label:43s} size={size:<5d} not measured", None))
                continue
            ok = value <= bound if cmp == "le" else value >= bound
            shown = f"{value:.2f}" if base else f"{value:,.0f}"
            lines.append((f"{label:43s} size={size:<5d} measured {shown}", ok))
    for scenario in ("sink", "echo", "send"):
        if scenario not in scenarios:
            continue
        for size in sizes:
            rec = find(records, scenario, size, "udg", "enters_per_dgram")
            label = f"io_uring_enter/dgram <= 0.10 ({scenario})"
            if rec is None:
                lines.append((f"{label:43s} size={size:<5d} not measured", None))
                continue
            ok = rec["median"] <= 0.10
            lines.append((f"{label:43s} size={size:<5d} measured {rec['median']:.3f}", ok))
    return lines


def mark(ok):
    return {True: "✓", False: "✗", None: "?"}[ok]


def run_mode(args):
    """'full' when every implementation, scenario and size ran with the default repetitions and
    duration: only such a run may replace bench/results/latest.*. Otherwise 'quick' or
    'partial (...)', saying what was left out or changed."""
    if args.quick:
        return "quick"
    diffs = []
    if args.impls != IMPLS:
        diffs.append("impls " + ",".join(args.impls))
    if args.scenarios != SCENARIOS:
        diffs.append("scenarios " + ",".join(args.scenarios))
    if args.sizes != SIZES:
        diffs.append("sizes " + ",".join(map(str, args.sizes)))
    if args.reps != FULL_REPS or args.duration != FULL_DURATION_S:
        diffs.append(f"{args.reps} reps x {args.duration}s")
    return "partial (" + "; ".join(diffs) + ")" if diffs else "full"


def run_line(header):
    """Mode, commit, date and machine in one line, for every table and the chart."""
    mode = header.get("mode") or ("quick" if header.get("quick") else "full")
    return (f"{mode} run, {header.get('reps')} reps x {header.get('duration_s')} s; "
            f"commit {header.get('git_commit') or '?'}; {header.get('date', '?')[:16].replace('T', ' ')}; "
            f"{header.get('cpu_model') or '?'}, {header.get('cpus_online')} CPUs, "
            f"kernel {header.get('kernel')}")


def short_number(v, metric):
    """An absolute value as a bar label: 1342 ns, 1.23M/s, 45.6 us."""
    if metric.endswith("_us"):
        return f"{v:.1f} us"
    if metric.endswith("_mb_per_s"):
        return f"{v:,.0f} MB/s"
    if metric.endswith("_per_s"):
        return f"{v / 1e6:.2f}M/s" if v >= 1e6 else f"{v / 1e3:.0f}k/s"
    return f"{v:.0f} ns"


def chart(records, impls, sizes, path, title):
    """A PNG of the headline ratios: one panel per headline metric, a cluster of bars per size,
    the mmsg baseline (1.0 by definition) first. Each bar carries the min-max of the
    repetitions as an error bar and its absolute median as a label; the x labels give the
    baseline's absolute median."""
    if not shutil.which("gnuplot"):
        return "gnuplot not installed: no chart"
    panels = [("sink", "cpu_ns_per_dgram", "sink: receiver CPU ns/dgram (lower is better)"),
              ("sink-gso", "cpu_ns_per_dgram",
               "sink-gso: receiver CPU ns/dgram, GSO trains (lower is better)"),
              ("echo", "round_trips_per_s", "echo: round trips/s (higher is better)"),
              ("latency", "p50_us", "latency: RTT p50 (lower is better)"),
              ("latency", "p99_us", "latency: RTT p99 (lower is better)"),
              ("send", "sent_per_s", "send: datagrams/s (higher is better)"),
              ("bulk", "delivered_per_s", "bulk: datagrams/s delivered (higher is better)"),
              ("large", "delivered_mb_per_s", "large: MB/s whole (higher is better)")]
    datadir = os.path.dirname(path)
    datafile = os.path.join(datadir, "latest-ratios.dat")
    plots = []
    with open(datafile, "w") as f:
        for scenario, metric, ptitle in panels:
            # Each panel's bars: the implementations of its scenario, the baseline first, less
            # those with nothing to draw (gnuplot refuses an all-NaN column; a ratio of 0 has
            # no place on a log axis), which the panel's title names.
            present = scenario_impls(scenario, impls)
            drawable = [i for i in present if any(
                (find(records, scenario, size, i, metric) or {}).get("ratio_to_mmsg")
                for size in scenario_sizes(scenario, sizes))]
            missing = [i for i in present if i not in drawable and
                       any(find(records, scenario, size, i, metric)
                           for size in scenario_sizes(scenario, sizes))]
            if missing:
                ptitle += f" [0, not drawn: {', '.join(missing)}]"
            bars = [i for i in drawable if i == "mmsg"] + [i for i in drawable if i != "mmsg"]
            rows, vals_all = [], []
            for size in scenario_sizes(scenario, sizes):
                base = find(records, scenario, size, "mmsg", metric)
                xtic = f"{size} B" + (f"\\nmmsg {short_number(base['median'], metric)}"
                                      if base else "")
                cols = []
                for impl in bars:
                    rec = find(records, scenario, size, impl, metric)
                    r = rec and rec["ratio_to_mmsg"]
                    if not r:
                        cols.append("NaN NaN NaN \"\"")
                        continue
                    # The spread: min-max of the per-repetition ratios; for the baseline (and
                    # runs saved before those were kept) the min-max of the values over the
                    # baseline's median.
                    lo, hi = rec.get("ratio_min"), rec.get("ratio_max")
                    if impl == "mmsg" or lo is None:
                        lo, hi = (rec["min"] / base["median"], rec["max"] / base["median"]) \
                            if base and base["median"] else (r, r)
                    # A log axis has no 0 (a repetition that delivered nothing whole).
                    lo, hi = (lo if lo > 0 else r), (hi if hi > 0 else r)
                    cols.append(f"{r:.4f} {lo:.4f} {hi:.4f} \"{short_number(rec['median'], metric)}\"")
                    vals_all += [r, lo, hi]
                rows.append(f"\"{xtic}\" " + " ".join(cols))
            if not vals_all:
                continue
            f.write(f"# {scenario} {metric}: size, then per impl ({' '.join(bars)}): "
                    "ratio min max label\n")
            f.write("\n".join(rows) + "\n\n\n")
            # Powers of two around the data, always showing the 1.0 line.
            lo = 2.0 ** math.floor(math.log2(min(vals_all + [1.0]) * 0.8))
            hi = 2.0 ** math.ceil(math.log2(max(vals_all + [1.0]) * 2.4))
            plots.append((len(plots), ptitle, lo, hi, bars))
    if not plots:
        return "no ratios to chart"
    cols = 3
    nrows = (len(plots) + cols - 1) // cols
    gap = 1
    script = [
        f"set terminal pngcairo size 1650,{500 * nrows} font 'sans,10'",
        f"set output '{path}'",
        f"set multiplot layout {nrows},{cols} title \"{title}\" font ',11'",
        "set style data histogram", f"set style histogram errorbars gap {gap} lw 1",
        "set style fill solid 0.85 border -1", "set boxwidth 0.9", "set bmargin 4",
        "set logscale y 2", "set grid ytics", "set key inside top center horizontal font ',8' samplen 1",
        "set ylabel 'ratio to mmsg (log scale)'", "unset xlabel",
        "set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1 lc rgb 'black'",
    ]
    colors = {"mmsg": "#999999", "epoll": "#4477aa", "libuv": "#228833", "node": "#ccbb44",
              "udg": "#ee6677", "udg-epoll": "#ee9977", "udg-node": "#aa3377",
              "udg-meta": "#cc3311", "gso": "#000000"}
    for block, ptitle, lo, hi, bars in plots:
        n = len(bars)
        script.append(f"set title '{ptitle}'")
        script.append(f"set yrange [{lo}:{hi}]")
        parts = []
        for i, impl in enumerate(bars):
            c = 2 + 4 * i
            src = f"'{datafile}' index {block} using {c}:{c + 1}:{c + 2}:xtic(1)" if i == 0 else \
                f"'' index {block} using {c}:{c + 1}:{c + 2}"
            name = "mmsg (baseline)" if impl == "mmsg" else impl
            parts.append(f"{src} title '{name}' lc rgb '{colors.get(impl, '#888888')}'")
        # The absolute medians, written up the bars (x of bar i in cluster $0, as gnuplot
        # places clustered bars: 1/(n+gap) apart, centred on the cluster).
        for i, impl in enumerate(bars):
            c = 2 + 4 * i
            off = (i - (n - 1) / 2.0) / (n + gap)
            parts.append(f"'' index {block} using ($0+{off:.4f}):(${c + 2}*1.08):{c + 3} "
                         "with labels rotate by 90 left font ',7' notitle")
        script.append("plot " + ", ".join(parts))
    script.append("unset multiplot")
    r = subprocess.run(["gnuplot"], input="\n".join(script), text=True, capture_output=True)
    if r.returncode != 0:
        return "gnuplot failed: " + r.stderr.strip()[-300:]
    return None


def run_micro(build_dir, seconds, outdir):
    """Run the google-benchmark micro-benchmarks briefly, if built; returns parsed JSON."""
    exe = os.path.join(build_dir, "bench", "bench_micro")
    if not os.access(exe, os.X_OK):
        return None, "bench_micro not built (needs g++ and libbenchmark-dev)"
    out = os.path.join(outdir, "micro.json")
    try:
        subprocess.run([exe, f"--benchmark_min_time={seconds}", "--benchmark_format=console",
                        f"--benchmark_out={out}", "--benchmark_out_format=json"],
                       check=True, timeout=120, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
        with open(out) as f:
            data = json.load(f)
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        return None, f"bench_micro failed: {e}"
    return [{"name": b["name"], "items_per_second": b.get("items_per_second"),
             "ns_per_iter": b.get("real_time")} for b in data.get("benchmarks", [])], None


def run_shards(args):
    """The `shards` scenario: bench_shards measures raw receivers and a udg shard group at 1..N
    cores in one process and prints its own scaling table; returns its exit status."""
    exe = os.path.join(args.build_dir, "bench", "bench_shards")
    if not os.access(exe, os.X_OK):
        print("shards: bench_shards not built")
        return 1
    sys.stdout.flush()
    size = 64 if 64 in args.sizes else args.sizes[0]
    r = subprocess.run([exe, "--duration", str(args.duration), "--size", str(size)])
    print()
    return r.returncode


METADATA_TITLE = ("metadata cost (sink): udg receiver with UDG_META_ECN|UDG_META_PKTINFO over "
                  "without, rx CPU ns/dgram, median of per-repetition ratios (min-max)")


def write_reports(header, records, out, keep_json=None):
    """latest.json (unless rewriting from it), latest.txt, latest.md and latest.png in out, each
    headed by the run's mode, commit, date and machine."""
    impls, scenarios, sizes = header["impls"], header["scenarios"], header["sizes"]
    os.makedirs(out, exist_ok=True)
    line = run_line(header)
    if not keep_json:
        with open(os.path.join(out, "latest.json"), "w") as f:
            json.dump([header] + records, f, indent=1)
            f.write("\n")
    with open(os.path.join(out, "latest.txt"), "w") as f:
        f.write(f"udg loopback benchmark: {line}\n")
        f.write("values: median (min-max) over repetitions; x mmsg: median of per-repetition "
                "ratios\n\n")
        f.write(table(records, impls, scenarios, sizes) + "\n")
        meta = metadata_cost(records, sizes) if "sink" in scenarios else []
        if meta:
            f.write(METADATA_TITLE + "\n" + "\n".join(meta) + "\n")
    with open(os.path.join(out, "latest.md"), "w") as f:
        f.write(f"**Run:** {line}. Values: median (min–max) over repetitions; "
                "x mmsg: median of the per-repetition ratios to the mmsg baseline.\n\n")
        f.write(table(records, impls, scenarios, sizes, markdown=True))
        if meta:
            f.write(f"\n### {METADATA_TITLE}\n\n" + "".join(f"- `{m}`\n" for m in meta))
        if "udg" in impls:
            f.write("\n### udg against each peer (median of per-repetition ratios udg/peer)\n\n")
            f.write(udg_vs_peers(records, impls, scenarios, sizes, True))
            f.write("\n### Targets (udg)\n\n")
            for tline, ok in targets(records, scenarios, sizes):
                f.write(f"- {mark(ok)} `{tline}`\n")
    why = chart(records, impls, sizes, os.path.join(out, "latest.png"),
                f"udg loopback benchmark: ratio to raw recvmmsg/sendmmsg (mmsg = 1); bars: median, "
                f"whiskers: min-max of the repetitions, labels: absolute medians\\n{line}")
    print(f"results: {os.path.relpath(os.path.join(out, 'latest.json'), ROOT)}, "
          f"chart: {why or os.path.relpath(os.path.join(out, 'latest.png'), ROOT)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.environ.get("BUILD_DIR", "build-release"))
    ap.add_argument("--quick", action="store_true", default=os.environ.get("QUICK") == "1")
    ap.add_argument("--impls", default=os.environ.get("BENCH_IMPLS", ",".join(IMPLS)))
    ap.add_argument("--scenarios", default=os.environ.get("BENCH_SCENARIOS",
                                                          ",".join(SCENARIOS)))
    ap.add_argument("--sizes", default=None)
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--duration", type=float, default=None)
    ap.add_argument("--out", default=None,
                    help="results directory; default bench/results/ for a full run, else "
                    "BUILD_DIR/bench-results/ (tracked files only change after a full run)")
    ap.add_argument("--report", metavar="JSON",
                    help="measure nothing: rewrite the tables and chart from a saved "
                    "latest.json (into the directory it is in, unless --out)")
    ap.add_argument("--no-micro", action="store_true")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds the runs may take including noise re-runs")
    args = ap.parse_args()
    if not os.path.isabs(args.build_dir):
        args.build_dir = os.path.join(ROOT, args.build_dir)
    # QUICK drops the 512-byte size, uses 2 repetitions of 0.4 s and a shorter micro run.
    args.sizes = [int(s) for s in (args.sizes or ("64,1400" if args.quick else
                                                  ",".join(map(str, SIZES)))).split(",")]
    args.reps = args.reps or (2 if args.quick else FULL_REPS)
    args.duration = args.duration or (0.4 if args.quick else FULL_DURATION_S)
    # make bench must end within 6 min (90 s QUICK): leave room for the build and micro run.
    args.budget = args.budget or (60.0 if args.quick else 300.0)
    args.impls = [i for i in args.impls.split(",") if i]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    if args.report:
        with open(args.report) as f:
            saved = json.load(f)
        out = args.out or os.path.dirname(os.path.abspath(args.report))
        header, records = saved[0], saved[1:]
        write_reports(header, records, out, args.report if out == os.path.dirname(
            os.path.abspath(args.report)) else None)
        return 0
    mode = run_mode(args)
    if args.out is None:
        args.out = os.path.join(HERE, "results") if mode == "full" else \
            os.path.join(args.build_dir, "bench-results")
    if "shards" in args.scenarios:  # its own program and table, before the other scenarios
        args.scenarios.remove("shards")
        rc = run_shards(args)
        if not args.scenarios:
            return rc

    suite = Suite(args)
    header = {
        "type": "header",
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "kernel": platform.release(),
        "cpu_model": cpu_model(),
        "cpus_online": os.cpu_count(),
        "cpus_used": {"driver": suite.driver_cpu, "impl": suite.impl_cpu},
        "net.core.rmem_max": sysctl("net.core.rmem_max"),
        "net.core.wmem_max": sysctl("net.core.wmem_max"),
        "euid": os.geteuid(),
        "rcvbuf_requested": RCVBUF,
        "quick": args.quick, "reps": args.reps, "duration_s": args.duration,
        "sizes": args.sizes, "impls": suite.impls, "scenarios": args.scenarios,
        "scenario_sizes": {sc: scenario_sizes(sc, args.sizes) for sc in args.scenarios},
        "echo_inflight": INFLIGHT, "noise_limit": NOISE_LIMIT, "mode": mode,
    }
    header["background_load_pct"] = background_load(1.0)
    print(f"udg loopback benchmark — {header['date']}, commit {header['git_commit']}, "
          f"{mode} run")
    if mode != "full":
        print(f"results go to {os.path.relpath(args.out, ROOT)}/: only a full run (no QUICK, "
              "no BENCH_IMPLS/BENCH_SCENARIOS subset) replaces bench/results/latest.*")
    print(f"machine: {header['cpu_model']}, {header['cpus_online']} CPUs, kernel "
          f"{header['kernel']}; driver (bulk/large: sender) on CPU {suite.driver_cpu}, "
          f"implementation (bulk/large: receiver) on CPU {suite.impl_cpu}")
    print(f"settings: net.core.rmem_max={header['net.core.rmem_max']} "
          f"SO_RCVBUF requested {RCVBUF} ({'root: drivers use SO_RCVBUFFORCE' if os.geteuid() == 0 else 'not root'}); "
          f"{args.reps} reps x {args.duration}s, sizes {args.sizes}"
          + "".join(f", {sc} {FIXED_SIZES[sc][0]}" for sc in args.scenarios if sc in FIXED_SIZES)
          + f"{' (QUICK)' if args.quick else ''}")
    print(f"background load before the start: {header['background_load_pct']:.0f}% of "
          f"{os.cpu_count()} CPUs" + ("  (busy machine: expect noisy results)"
                                     if header["background_load_pct"] > 20 else ""))
    if suite.udg_probe:
        print(f"udg {suite.udg_probe.get('version')} ring features: "
              f"{suite.udg_probe.get('features')}")
    for n in suite.notes:
        print("note: " + n)
    sys.stdout.flush()

    samples, raws, noise, reruns, failures, elapsed = suite.run()
    records = aggregate(samples, suite.impls, args.scenarios, args.sizes)

    header["rcvbuf_obtained"] = {i: next((r.get("rcvbuf") for r in raws.get(i, {}).values()
                                          if r.get("rcvbuf")), None)
                                 for i in suite.impls if i in raws}
    header["versions"] = {i: next((r.get("version") for r in raws.get(i, {}).values()
                                   if r.get("version")), None) for i in suite.impls}
    header["udg_features"] = suite.udg_probe.get("features")
    header["noise"] = {"median": statistics.median(noise) if noise else None,
                       "max": max(noise) if noise else None, "reruns": reruns}
    header["failures"] = failures
    header["notes"] = suite.notes
    header["elapsed_s"] = round(elapsed, 1)

    print()
    print(f"settings in force: SO_RCVBUF obtained {header['rcvbuf_obtained']}")
    print(f"noise (other processes' share of the two cores): median "
          f"{100 * (header['noise']['median'] or 0):.1f}%, max "
          f"{100 * (header['noise']['max'] or 0):.1f}%, {reruns} run(s) repeated")
    print("values: median (min-max) over repetitions; x mmsg: median of per-repetition ratios\n")
    text = table(records, suite.impls, args.scenarios, args.sizes)
    print(text)
    meta = metadata_cost(records, args.sizes) if "sink" in args.scenarios else []
    if meta:
        print("== " + METADATA_TITLE)
        for m in meta:
            print("  " + m)
        print()
    if "udg" in suite.impls:
        print("== udg against each peer (median of per-repetition ratios udg/peer)")
        print(udg_vs_peers(records, suite.impls, args.scenarios, args.sizes))
        print("== targets (udg, ratios measured in this run)")
        for line, ok in targets(records, args.scenarios, args.sizes):
            print(f"  {mark(ok)} {line}")
        print()
    for f in failures:
        print("FAILED: " + f)

    if not args.no_micro:
        os.makedirs(args.out, exist_ok=True)
        micro, why = run_micro(args.build_dir, 0.02 if args.quick else 0.1, args.out)
        header["micro"] = micro
        if micro:
            print(f"== micro-benchmarks (google-benchmark; "
                  f"{os.path.relpath(os.path.join(args.out, 'micro.json'), ROOT)})")
            for b in micro:
                ips = b["items_per_second"]
                print(f"  {b['name']:50s} {ips / 1e6 if ips else 0:10.2f} M items/s")
            print()
        elif why:
            print("micro-benchmarks: " + why)

    write_reports(header, records, args.out)
    return 1 if failures and len(failures) > len(noise) else 0


if __name__ == "__main__":
    sys.exit(main())
