// bench/node_peer.js — the Node.js peer of the loopback benchmark: a dgram module used the
// ordinary way (a 'message' listener; send() without callbacks). Roles: sink, echo, send; same
// arguments and one JSON result line as the C role programs. `--module node:dgram` (the
// default) measures Node's own dgram; `--module PATH` loads a drop-in such as udg's
// bindings/node, so both run the very same code.
'use strict';

// --addon PATH: the compiled addon a drop-in should load (udg's load.js reads UDG_NODE_ADDON).
(() => {
  const i = process.argv.indexOf('--addon');
  if (i > 0) process.env.UDG_NODE_ADDON = process.argv.splice(i, 2)[1];
})();
const moduleName = (() => {
  const i = process.argv.indexOf('--module');
  return i > 0 ? process.argv.splice(i, 2)[1] : 'node:dgram';
})();
const dgram = require(moduleName);
const IMPL = moduleName === 'node:dgram' ? 'node' : 'udg-node';

const BATCH = 64; // sends per turn of the event loop, like the C senders' clock checks
const IDLE_MS = 150; // BENCH_IDLE_MS in bench_common.h
const GRACE_S = 5; // BENCH_GRACE_S
const QUEUE_LIMIT = 4096; // stop feeding send() while this many are queued (udg's slot count)

function parseArgs(argv) {
  const a = { role: null, port: 0, size: 64, duration: 1.0, rcvbuf: 4 << 20 };
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    const val = argv[i + 1];
    if (key === 'role') a.role = val;
    else if (key === 'port') a.port = Number(val);
    else if (key === 'size') a.size = Number(val);
    else if (key === 'duration') a.duration = Number(val);
    else if (key === 'rcvbuf') a.rcvbuf = Number(val);
    else if (key !== 'inflight') throw new Error(`unknown option ${argv[i]}`);
  }
  if (!['sink', 'echo', 'send'].includes(a.role)) throw new Error('--role sink|echo|send');
  return a;
}

const cpuNs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};
const nowNs = () => Number(process.hrtime.bigint());

function finish(a, role, fields) {
  const out = { impl: IMPL, version: process.version, role, size: a.size, ...fields };
  out.cpu_total_ns = cpuNs();
  const ru = process.resourceUsage();
  out.vcsw = ru.voluntaryContextSwitches;
  out.ivcsw = ru.involuntaryContextSwitches;
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}

function serve(a, echo) {
  const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: a.rcvbuf });
  let count = 0;
  let bytes = 0; // payload bytes of datagrams that arrived whole
  let truncated = 0; // datagrams shorter than the sender's --size
  let seen = 0;
  let seenAt = 0;
  let cpu0 = 0;
  const giveUp = nowNs() + (a.duration + GRACE_S) * 1e9;

  if (echo) {
    sock.on('message', (msg, rinfo) => {
      sock.send(msg, rinfo.port, rinfo.address);
      count++;
    });
  } else {
    sock.on('message', (msg) => {
      count++;
      if (msg.length === a.size) bytes += msg.length;
      else truncated++;
    });
  }
  sock.bind(a.port, '127.0.0.1', () => {
    const rcvbuf = sock.getRecvBufferSize();
    // The idle check runs on a timer, never per datagram.
    const timer = setInterval(() => {
      const now = nowNs();
      if (count !== seen) {
        seen = count;
        seenAt = now;
        return;
      }
      if (count ? now - seenAt > IDLE_MS * 1e6 : now > giveUp) {
        clearInterval(timer);
        finish(a, echo ? 'echo' : 'sink', {
          count,
          cpu_ns: cpuNs() - cpu0,
          wall_ns: 0,
          rcvbuf,
          bytes,
          truncated,
        });
      }
    }, 20);
    cpu0 = cpuNs();
    process.stdout.write(`READY ${sock.address().port}\n`);
  });
}

function send(a) {
  const sock = dgram.createSocket('udp4');
  const payload = Buffer.alloc(a.size, 'abcdefghijklmnopqrstuvwxyz');
  let count = 0;
  sock.connect(a.port, '127.0.0.1', () => {
    const cpu0 = cpuNs();
    const t0 = nowNs();
    const end = t0 + a.duration * 1e9;
    const pump = () => {
      if (nowNs() >= end) {
        // Every accepted datagram is handed to the kernel before the result is taken.
        const drain = () => {
          if (sock.getSendQueueCount() > 0) return setImmediate(drain);
          finish(a, 'send', { count, cpu_ns: cpuNs() - cpu0, wall_ns: nowNs() - t0, rcvbuf: 0 });
        };
        return drain();
      }
      if (sock.getSendQueueCount() < QUEUE_LIMIT) {
        for (let i = 0; i < BATCH; i++) sock.send(payload);
        count += BATCH;
      }
      setImmediate(pump);
    };
    pump();
  });
}

const args = parseArgs(process.argv);
if (args.role === 'send') send(args);
else serve(args, args.role === 'echo');
