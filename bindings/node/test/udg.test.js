// bindings/node/test/udg.test.js — the addon's own tests (node:test), on real loopback sockets
// with ephemeral ports: the batched crossings both ways, payload ownership, keeping Node alive,
// and the error objects. Node's own dgram tests run separately (make node-conformance).
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const { once } = require('node:events');
const path = require('node:path');
const dgram = require('../index.js');

const PKG = path.join(__dirname, '..');

function bound(type = 'udp4', address = '127.0.0.1', opts = {}) {
  const s = dgram.createSocket({ type, ...opts });
  s.bind(0, address);
  return once(s, 'listening').then(() => s);
}

// Runs a script in a child node with this package as `dgram`; returns its result.
function child(script, env = {}, timeout = 20000) {
  const code = `const dgram = require(${JSON.stringify(PKG)});\n${script}`;
  return spawnSync(process.execPath, ['-e', code], {
    env: { ...process.env, ...env }, timeout, encoding: 'utf8',
  });
}

test('a datagram and its rinfo arrive as node:dgram delivers them', async () => {
  const server = await bound();
  const client = await bound();
  client.send('hello', server.address().port, '127.0.0.1');
  const [msg, rinfo] = await once(server, 'message');
  assert.ok(Buffer.isBuffer(msg));
  assert.strictEqual(msg.toString(), 'hello');
  assert.deepStrictEqual(Object.keys(rinfo), ['address', 'family', 'port', 'size']);
  assert.deepStrictEqual(rinfo,
    { address: '127.0.0.1', family: 'IPv4', port: client.address().port, size: 5 });
  client.close();
  server.close();
});

test('udp6 on ::1 reports family IPv6', async () => {
  const server = await bound('udp6', '::1');
  const client = await bound('udp6', '::1');
  client.send(Buffer.from('six'), server.address().port, '::1');
  const [msg, rinfo] = await once(server, 'message');
  assert.strictEqual(msg.toString(), 'six');
  assert.strictEqual(rinfo.address, '::1');
  assert.strictEqual(rinfo.family, 'IPv6');
  client.close();
  server.close();
});

test('5000 datagrams sent in windows of 64 per tick all arrive, in order, and kept buffers stay intact', async () => {
  const server = await bound();
  const client = await bound();
  const port = server.address().port;
  const kept = [];
  let next = 0;
  const sendWindow = () => {
    for (let i = 0; i < 64 && next < 5000; i++, next++) {
      const b = Buffer.alloc(64);
      b.writeUInt32BE(next, 0);
      b.fill(next & 0xff, 4);
      client.send(b, port, '127.0.0.1');
    }
  };
  const done = new Promise((resolve) => {
    server.on('message', (msg) => {
      kept.push(msg);
      if (kept.length === 5000) resolve();
      else if (kept.length % 64 === 0) sendWindow();
    });
  });
  sendWindow();
  await done;
  // Every Buffer kept from earlier batches still holds its own datagram.
  for (let i = 0; i < 5000; i++) {
    assert.strictEqual(kept[i].length, 64);
    assert.strictEqual(kept[i].readUInt32BE(0), i);
    assert.ok(kept[i].subarray(4).every((x) => x === (i & 0xff)), `datagram ${i} intact`);
  }
  client.close();
  server.close();
});

test('a 60000-byte datagram arrives whole (the receive buffers hold 64 KiB)', async () => {
  const server = await bound();
  const client = await bound();
  const big = Buffer.alloc(60000, 7);
  big[59999] = 9;
  client.send(big, server.address().port, '127.0.0.1');
  const [msg, rinfo] = await once(server, 'message');
  assert.strictEqual(rinfo.size, 60000);
  assert.ok(msg.equals(big));
  client.close();
  server.close();
});

test('the send callback runs later with (null, bytes), never inside send()', async () => {
  const server = await bound();
  const client = await bound();
  let returned = false;
  const arrived = once(server, 'message');
  const result = new Promise((resolve) => {
    client.send(['ab', Buffer.from('cde')], server.address().port, '127.0.0.1', (err, n) => {
      resolve({ err, n, returned });
    });
  });
  returned = true;
  const { err, n, returned: after } = await result;
  assert.strictEqual(err, null);
  assert.strictEqual(n, 5);
  assert.strictEqual(after, true);
  const [msg] = await arrived;
  assert.strictEqual(msg.toString(), 'abcde');
  client.close();
  server.close();
});

test('a kernel send error reaches the callback as a send error with address and port', async () => {
  const client = await bound();
  const err = await new Promise((resolve) => {
    client.send(Buffer.alloc(70000), 9, '127.0.0.1', (e) => resolve(e));
  });
  assert.strictEqual(err.code, 'EMSGSIZE');
  assert.strictEqual(err.syscall, 'send');
  assert.strictEqual(err.address, '127.0.0.1');
  assert.strictEqual(err.port, 9);
  assert.strictEqual(err.errno, -90);
  assert.strictEqual(err.message, 'send EMSGSIZE 127.0.0.1:9');
  client.close();
});

test('bind to a port in use emits a bind error with code, errno, syscall, address and port', async () => {
  const first = await bound();
  const port = first.address().port;
  const second = dgram.createSocket('udp4');
  second.bind(port, '127.0.0.1');
  const [err] = await once(second, 'error');
  assert.strictEqual(err.code, 'EADDRINUSE');
  assert.strictEqual(err.errno, -98);
  assert.strictEqual(err.syscall, 'bind');
  assert.strictEqual(err.address, '127.0.0.1');
  assert.strictEqual(err.port, port);
  assert.strictEqual(err.message, `bind EADDRINUSE 127.0.0.1:${port}`);
  // The socket stays usable: it binds elsewhere afterwards.
  second.bind(0, '127.0.0.1');
  await once(second, 'listening');
  second.close();
  first.close();
});

test('connected sends need no address and count in the send queue at once', async () => {
  const server = await bound();
  const client = dgram.createSocket('udp4');
  client.connect(server.address().port, '127.0.0.1');
  await once(client, 'connect');
  assert.deepStrictEqual(client.remoteAddress(),
    { address: '127.0.0.1', family: 'IPv4', port: server.address().port });
  client.send('one');
  client.send('two');
  assert.strictEqual(client.getSendQueueCount(), 2);
  assert.strictEqual(client.getSendQueueSize(), 6);
  const got = [];
  server.on('message', (m) => got.push(m.toString()));
  while (got.length < 2) await once(server, 'message');
  assert.deepStrictEqual(got, ['one', 'two']);
  assert.strictEqual(client.getSendQueueCount(), 0);
  assert.throws(() => client.send('x', 0, 1, 1234, '127.0.0.1'),
    { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' });
  client.close();
  server.close();
});

test('more sends in one tick than the loop has send slots are all delivered, callbacks too', () => {
  const r = child(`
    const server = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
    let got = 0, acked = 0;
    server.on('message', () => { if (++got === 300 && acked === 300) finish(); });
    server.bind(0, '127.0.0.1', () => {
      const client = dgram.createSocket('udp4');
      for (let i = 0; i < 300; i++) {
        client.send(Buffer.alloc(16, i), server.address().port, '127.0.0.1', (err) => {
          if (err) throw err;
          if (++acked === 300 && got === 300) finish();
        });
      }
      global.finish = () => { console.log('ok', got, acked); client.close(); server.close(); };
    });
  `, { UDG_NODE_SEND_SLOTS: '16' });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout, /^ok 300 300/);
});

test('an unref()ed bound socket lets Node exit; a referenced one keeps it running', () => {
  const unrefd = child(`const s = dgram.createSocket('udp4'); s.bind(0); s.unref();
    process.on('exit', () => console.log('exited'));`);
  assert.strictEqual(unrefd.status, 0, unrefd.stderr);
  assert.match(unrefd.stdout, /exited/);
  // Referenced: Node is still running when the parent gives up on it.
  const refd = child(`const s = dgram.createSocket('udp4'); s.bind(0);`, {}, 1500);
  assert.strictEqual(refd.signal, 'SIGTERM');
});

test('a socket that never binds does not keep Node alive, and close() emits once', () => {
  const r = child(`const s = dgram.createSocket('udp4'); let n = 0;
    s.on('close', () => n++); s.close(); process.on('exit', () => console.log('closes', n));`);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout, /closes 1/);
});

test('bad arguments throw Node\'s error codes and change nothing', async () => {
  assert.throws(() => dgram.createSocket('udp5'), { code: 'ERR_SOCKET_BAD_TYPE', name: 'TypeError' });
  const s = dgram.createSocket('udp4');
  assert.throws(() => s.send('x', 0, '127.0.0.1'), { code: 'ERR_SOCKET_BAD_PORT' });
  assert.throws(() => s.send(5, 1234), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => s.send(Buffer.alloc(4), 5, 1, 1234, '127.0.0.1'),
    { code: 'ERR_BUFFER_OUT_OF_BOUNDS' });
  assert.throws(() => s.setTTL(64), { code: 'EBADF', syscall: 'setTTL' });
  assert.throws(() => s.getRecvBufferSize(), { code: 'ERR_SOCKET_BUFFER_SIZE' });
  assert.throws(() => s.remoteAddress(), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  assert.throws(() => s.bind(0), { code: 'ERR_SOCKET_ALREADY_BOUND' });
  s.close();
  assert.throws(() => s.close(), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
  assert.throws(() => s.address(), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
});

// Collects `n` datagrams on `server` into an array, in arrival order.
function collect(server, n) {
  const got = [];
  return new Promise((resolve) => {
    server.on('message', (m, rinfo) => {
      got.push([m, rinfo]);
      if (got.length === n) resolve(got);
    });
  });
}

test('a list of more than 64 pieces goes as one whole datagram, and the next one is unharmed', async () => {
  const server = await bound();
  const client = await bound();
  const port = server.address().port;
  const pieces = [];
  for (let i = 0; i < 100; i++) pieces.push(Buffer.from([i]));
  const arrived = collect(server, 3);
  const result = new Promise((resolve) => {
    client.send(pieces, port, '127.0.0.1', (err, n) => resolve([err, n]));
  });
  client.send([Buffer.from('after'), Buffer.from('!')], port, '127.0.0.1');
  client.send(Buffer.from('last'), port, '127.0.0.1');
  const got = await arrived;
  assert.deepStrictEqual(await result, [null, 100]);
  assert.strictEqual(got[0][0].length, 100);
  assert.ok(got[0][0].every((x, i) => x === i), 'the 100 pieces in order');
  assert.strictEqual(got[1][0].toString(), 'after!');
  assert.strictEqual(got[2][0].toString(), 'last');
  client.close();
  server.close();
});

test('pieces from many buffers, views with offsets and shared memory arrive as written', async () => {
  const server = await bound();
  const client = await bound();
  const port = server.address().port;
  const backing = Buffer.from('0123456789abcdef');
  const shared = new Uint8Array(new SharedArrayBuffer(8));
  shared.set([0x53, 0x41, 0x42, 0x21], 2); // "SAB!" at offset 2
  const f32 = new Float32Array([1.5]);
  const expect = [];
  const arrived = collect(server, 7);
  // Same ArrayBuffer several times in a row, then others, then the first again.
  client.send([backing.subarray(2, 4), backing.subarray(10, 12)], port, '127.0.0.1');
  expect.push('23ab');
  client.send(new DataView(backing.buffer, backing.byteOffset + 5, 3), port, '127.0.0.1');
  expect.push('567');
  client.send(shared.subarray(2, 6), port, '127.0.0.1');
  expect.push('SAB!');
  client.send([Buffer.from('x'), shared.subarray(2, 3), backing.subarray(15)], port, '127.0.0.1');
  expect.push('xSf');
  client.send(f32, port, '127.0.0.1');
  expect.push(Buffer.from(f32.buffer).toString('latin1'));
  client.send('text', port, '127.0.0.1');
  expect.push('text');
  client.send(backing.subarray(0, 1), port, '127.0.0.1');
  expect.push('0');
  const got = await arrived;
  assert.deepStrictEqual(got.map(([m]) => m.toString('latin1')), expect);
  client.close();
  server.close();
});

test('received messages are views that later batches and later pools never overwrite', async () => {
  const server = await bound('udp4', '127.0.0.1', { recvBufferSize: 4 << 20 });
  const client = await bound();
  const port = server.address().port;
  // 40 x 30000 bytes: several 256 KiB receive pools; each send waits for the one before.
  const kept = [];
  const done = new Promise((resolve) => {
    server.on('message', (m) => {
      kept.push(m);
      if (kept.length === 40) resolve();
      else client.send(Buffer.alloc(30000, kept.length), port, '127.0.0.1');
    });
  });
  client.send(Buffer.alloc(30000, 0), port, '127.0.0.1');
  await done;
  for (let i = 0; i < 40; i++) {
    assert.strictEqual(kept[i].length, 30000);
    assert.ok(kept[i].every((x) => x === i), `datagram ${i} intact`);
    assert.ok(Buffer.isBuffer(kept[i]));
  }
  client.close();
  server.close();
});

test('an empty datagram arrives as an empty Buffer with size 0', async () => {
  const server = await bound();
  const client = await bound();
  client.send(Buffer.alloc(0), server.address().port, '127.0.0.1');
  const [msg, rinfo] = await once(server, 'message');
  assert.ok(Buffer.isBuffer(msg));
  assert.strictEqual(msg.length, 0);
  assert.strictEqual(rinfo.size, 0);
  client.close();
  server.close();
});

test('every way of listening gets the message: several listeners, once(), a replaced emit()', async () => {
  const server = await bound();
  const client = await bound();
  const port = server.address().port;
  const seen = [];
  server.on('message', (m) => seen.push(`a:${m}`));
  server.once('message', (m) => seen.push(`b:${m}`));
  const emit = server.emit;
  server.emit = function(type, ...args) {
    if (type === 'message') seen.push(`emit:${args[0]}`);
    return emit.call(this, type, ...args);
  };
  client.send('1', port, '127.0.0.1');
  await once(server, 'message');
  client.send('2', port, '127.0.0.1');
  await once(server, 'message');
  assert.deepStrictEqual(seen, ['emit:1', 'a:1', 'b:1', 'emit:2', 'a:2']);
  client.close();
  server.close();
});

test('a message listener returning a rejected promise reaches captureRejections', () => {
  const r = child(`
    require('node:events').captureRejections = true;
    const server = dgram.createSocket('udp4');
    server.on('message', async () => { throw new Error('rejected'); });
    server.on('error', (err) => { console.log('error', err.message); server.close(); });
    server.bind(0, '127.0.0.1', () => {
      const c = dgram.createSocket('udp4');
      c.send('x', server.address().port, '127.0.0.1', () => c.close());
    });
  `);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout, /^error rejected/);
});

test('connected sends of mixed buffers, more than the send slots, arrive whole and in order', () => {
  const r = child(`
    const server = dgram.createSocket('udp4');
    const a = Buffer.from('aaaa'), b = Buffer.from('bbbb');
    let got = 0, bad = 0;
    server.on('message', (m) => {
      const t = m.toString();
      if (t !== (got % 3 === 2 ? 'ab' : got % 2 ? 'bbbb' : 'aaaa')) bad++;
      if (++got === 600) { console.log('ok', bad); client.close(); server.close(); }
    });
    const client = dgram.createSocket('udp4');
    server.bind(0, '127.0.0.1', () => {
      client.connect(server.address().port, '127.0.0.1', () => {
        for (let i = 0; i < 600; i++) {
          if (i % 3 === 2) client.send([a.subarray(0, 1), b.subarray(0, 1)]);
          else client.send(i % 2 ? b : a);
        }
        if (client.getSendQueueCount() !== 600) console.log('count', client.getSendQueueCount());
      });
    });
  `, { UDG_NODE_SEND_SLOTS: '16' });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.strictEqual(r.stdout, 'ok 0\n');
});

test('with the domain module loaded, a message listener runs inside the socket\'s domain', () => {
  const r = child(`
    const domain = require('node:domain');
    const d = domain.create();
    d.on('error', (err) => { console.log('domain caught', err.message); process.exit(0); });
    d.run(() => {
      const server = dgram.createSocket('udp4');
      server.on('message', () => { throw new Error('from listener'); });
      server.bind(0, '127.0.0.1', () => {
        const c = dgram.createSocket('udp4');
        c.send('x', server.address().port, '127.0.0.1');
      });
    });
  `);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout, /^domain caught from listener/);
});

test('a buffer detached before the tick\'s flush fails its send with EINVAL; the next one leaves', async () => {
  const server = await bound();
  const client = await bound();
  const port = server.address().port;
  const ab = new ArrayBuffer(32);
  const result = new Promise((resolve) => {
    client.send(new Uint8Array(ab, 8, 8), port, '127.0.0.1', (err) => resolve(err));
  });
  structuredClone(ab, { transfer: [ab] }); // detaches ab: its memory is no longer ours to read
  assert.strictEqual(ab.byteLength, 0);
  client.send('after', port, '127.0.0.1');
  const err = await result;
  assert.strictEqual(err.code, 'EINVAL');
  assert.strictEqual(err.syscall, 'send');
  const [msg] = await once(server, 'message');
  assert.strictEqual(msg.toString(), 'after');
  client.close();
  server.close();
});
