// bindings/node/index.js — udg for Node.js: node:dgram's API (createSocket, Socket, every
// member, event and error code) over the udg addon, whose io_uring loop runs on Node's loop.
//
// The Socket keeps Node's state machine (bind states, connect states, the queue of operations
// waiting for an implicit bind, the lookup calls) in JS, as lib/dgram.js does; the addon is the
// handle underneath. Crossings are batched both ways: the addon delivers everything one
// udg_loop_run produced in one call (onBatch), and the datagrams sent during one tick go down
// in one sendBatch() call from a nextTick flush.
'use strict';

const EventEmitter = require('node:events');
const dns = require('node:dns');
const net = require('node:net');
const util = require('node:util');
const { Buffer } = require('node:buffer');
const E = require('./errors.js');
const addon = require('./load.js');

const UNBOUND = 0;
const BINDING = 1;
const BOUND = 2;
const DISCONNECTED = 0;
const CONNECTING = 1;
const CONNECTED = 2;

// Row kinds and layout: bindings/node/src/addon.h.
const ROW = 8;
const K_MSG = 1;
const K_SEND = 2;
const K_LISTENING = 3;
const K_CLOSED = 4;
const K_CONNECT = 5;
const K_ERROR = 6;
const MAX_ROWS = 8192;
const UDG_ERR_SEND_QUEUE_FULL = -5102;

const kState = Symbol('state');

// ---- The addon's side: one loop per thread, started by the first socket --------------------

const rows = new Int32Array(MAX_ROWS * ROW);
const sockets = []; // C socket id -> Socket
const srcText = []; // source address id -> text (rinfo.address)
const srcFamily = [];
let started = false;
let holds = 0; // what keeps Node alive: held sockets, callbacks and connects in progress

function start() {
  if (started) return;
  const r = addon.init(rows, onBatch);
  if (r < 0) {
    const err = new Error(`udg: cannot create the io_uring loop: ${addon.strerror(r)}`);
    err.code = addon.errName(r);
    throw err;
  }
  started = true;
}

function hold(delta) {
  const before = holds;
  holds += delta;
  if ((before === 0) !== (holds === 0)) addon.ref(holds > 0);
}

// A negative udg code as the errno Node would show: -errno stays, udg's own names map to the
// nearest errno (they never reach users in the paths index.js takes).
function toErrno(code) {
  return code > -4096 ? code : -22;
}

// ---- Send queue: filled during a tick, handed to the addon by one nextTick flush ------------
//
// Per datagram, META cells of qMeta: [C socket id, destination id or -1 (connected), port,
// pieces, callback id (0: none), result (written by the addon)]. Per piece, PIECE cells of
// qPieces: [entry, byteOffset, byteLength], entry indexing qBufs, the distinct ArrayBuffers of
// the queued pieces: the addon looks each buffer up once per flush, not each piece.

const META = 6;
const PIECE = 3;
const SENDV_MAX = 64; // UDG_SENDV_MAX: longer lists are joined into one piece first

let qMeta = new Int32Array(META * 1024);
let qPieces = new Float64Array(PIECE * 1024);
let qBytes = new Float64Array(1024);
let qBufs = [];
let qSockets = []; // Socket per queued datagram, for the queue counters
let qCount = 0;
let qPieceCount = 0;
let lastBuf = null; // the ArrayBuffer of the last piece queued, and its entry
let lastEntry = -1;
let lastView = null; // the last piece queued, and its offset in lastBuf's entry
let lastOffset = 0;
let flushScheduled = false;
let reqSeq = 0;
const pendingSends = new Map(); // req id -> { sock, cb, list, address, port }
const destIds = new Map(); // address text -> destination id in the addon
const DEST_LIMIT = 1 << 16;

function destId(address) {
  let id = destIds.get(address);
  if (id === undefined) {
    id = addon.addAddr(address);
    if (id < 0) return id;
    destIds.set(address, id);
  }
  return id;
}

function scheduleFlush() {
  if (flushScheduled) return;
  flushScheduled = true;
  process.nextTick(flushSends);
}

function growMeta() {
  const meta = new Int32Array(qMeta.length * 2);
  meta.set(qMeta);
  qMeta = meta;
  const bytes = new Float64Array(qBytes.length * 2);
  bytes.set(qBytes);
  qBytes = bytes;
}

function growPieces(need) {
  let len = qPieces.length * 2;
  while (len < need) len *= 2;
  const pieces = new Float64Array(len);
  pieces.set(qPieces);
  qPieces = pieces;
}

// One piece (a Uint8Array) at the end of qPieces. A send loop often sends the same view again:
// its buffer is then not looked up (a typed array's .buffer is a call into V8's runtime).
function pushPiece(v) {
  const o = qPieceCount * PIECE;
  if (o + PIECE > qPieces.length) growPieces(o + PIECE);
  qPieceCount++;
  if (v === lastView) {
    qPieces[o] = lastEntry;
    qPieces[o + 1] = lastOffset;
    qPieces[o + 2] = v.byteLength;
    return;
  }
  const ab = v.buffer;
  let off = v.byteOffset;
  if (ab !== lastBuf) {
    lastEntry = qBufs.length;
    if (ab instanceof ArrayBuffer) {
      lastBuf = ab;
      qBufs.push(ab);
    } else {
      // A SharedArrayBuffer (or another realm's buffer): the view goes down itself.
      lastBuf = null;
      qBufs.push(v);
      off = 0;
    }
  }
  lastView = v;
  lastOffset = off;
  qPieces[o] = lastEntry;
  qPieces[o + 1] = off;
  qPieces[o + 2] = v.byteLength;
}

function queueHead(sock, state, dst, port, npieces, bytes, reqId) {
  if ((qCount + 1) * META > qMeta.length) growMeta();
  const o = qCount * META;
  qMeta[o] = state.id;
  qMeta[o + 1] = dst;
  qMeta[o + 2] = port;
  qMeta[o + 3] = npieces;
  qMeta[o + 4] = reqId;
  qBytes[qCount] = bytes;
  qSockets[qCount] = sock;
  qCount++;
  state.qBytes += bytes;
  state.qCount++;
  scheduleFlush();
}

function queueSend(sock, dst, port, list, bytes, reqId) {
  for (let i = 0; i < list.length; i++) pushPiece(list[i]);
  queueHead(sock, sock[kState], dst, port, list.length, bytes, reqId);
}

function resetQueue() {
  qBufs = [];
  qSockets.fill(undefined, 0, qCount);
  qCount = 0;
  qPieceCount = 0;
  lastBuf = null;
  lastEntry = -1;
  lastView = null;
}

function flushSends() {
  flushScheduled = false;
  if (qCount === 0) return;
  const n = qCount;
  const taken = addon.sendBatch(n, qMeta, qPieces, qBufs);
  let piecesTaken = 0;
  for (let i = 0; i < taken; i++) {
    const o = i * META;
    const state = qSockets[i][kState];
    state.qBytes -= qBytes[i];
    state.qCount--;
    piecesTaken += qMeta[o + 3];
    const status = qMeta[o + 5];
    if (status < 0 && qMeta[o + 4]) failSend(qMeta[o + 4], status);
  }
  if (taken === n) {
    resetQueue();
    if (destIds.size > DEST_LIMIT) {
      destIds.clear();
      addon.clearAddrs();
    }
    return;
  }
  // The loop's send slots are full: keep the rest, in order; the addon calls onBatch when
  // completions free slots, and the flush is retried from there.
  compactQueue(taken, piecesTaken);
}

// Drop the first `datagrams` queued datagrams (`pieces` pieces), renumbering the buffer
// entries the rest still use.
function compactQueue(datagrams, pieces) {
  qMeta.copyWithin(0, datagrams * META, qCount * META);
  qBytes.copyWithin(0, datagrams, qCount);
  qSockets = qSockets.slice(datagrams, qCount);
  qCount -= datagrams;
  qPieces.copyWithin(0, pieces * PIECE, qPieceCount * PIECE);
  qPieceCount -= pieces;
  renumberBuffers();
}

function renumberBuffers() {
  const map = new Int32Array(qBufs.length).fill(-1);
  const bufs = [];
  for (let i = 0; i < qPieceCount; i++) {
    const o = i * PIECE;
    const e = qPieces[o];
    if (map[e] < 0) {
      map[e] = bufs.length;
      bufs.push(qBufs[e]);
    }
    qPieces[o] = map[e];
  }
  qBufs = bufs;
  lastBuf = null;
  lastEntry = -1;
  lastView = null;
}

// close(): the socket's unconnected datagrams of this tick are dropped (their lookups, in
// node:dgram's terms, have not finished).
function dropUnconnected(sock) {
  let w = 0;
  let rp = 0;
  let wp = 0;
  for (let i = 0; i < qCount; i++) {
    const o = i * META;
    const np = qMeta[o + 3];
    if (qSockets[i] === sock && qMeta[o + 1] !== -1) {
      sock[kState].qBytes -= qBytes[i];
      sock[kState].qCount--;
      if (qMeta[o + 4] && pendingSends.delete(qMeta[o + 4])) hold(-1);
    } else {
      if (w !== i) {
        qMeta.copyWithin(w * META, o, o + META);
        qSockets[w] = qSockets[i];
        qBytes[w] = qBytes[i];
      }
      if (wp !== rp) qPieces.copyWithin(wp * PIECE, rp * PIECE, (rp + np) * PIECE);
      wp += np;
      w++;
    }
    rp += np;
  }
  qSockets.length = w;
  qCount = w;
  qPieceCount = wp;
  renumberBuffers();
}

function failSend(reqId, status) {
  const p = pendingSends.get(reqId);
  if (!p) return;
  pendingSends.delete(reqId);
  const err = E.exceptionWithHostPort(toErrno(status), 'send', p.address, p.port);
  process.nextTick(() => {
    hold(-1);
    p.cb(err);
  });
}

function completeSend(reqId, status, bytes) {
  const p = pendingSends.get(reqId);
  if (!p) return;
  pendingSends.delete(reqId);
  hold(-1);
  if (status < 0) p.cb(E.exceptionWithHostPort(toErrno(status), 'send', p.address, p.port));
  else p.cb(null, bytes);
}

// ---- Batches from the addon -------------------------------------------------------------------

// events' own emit(type, ...args), unless something (the domain module: emit(...args)) had
// replaced it before this module loaded; only then may 'message' skip it.
const emitProto = EventEmitter.prototype.emit.length === 1 ? EventEmitter.prototype.emit : null;

function onBatch(n, pool, newAddrs, errs, reset) {
  if (reset) {
    srcText.length = 0;
    srcFamily.length = 0;
  }
  if (newAddrs !== null) {
    for (let i = 0; i < newAddrs.length; i += 2) {
      const text = newAddrs[i + 1];
      srcText[newAddrs[i]] = text;
      srcFamily[newAddrs[i]] = text.includes(':') ? 'IPv6' : 'IPv4';
    }
  }
  let thrown;
  for (let i = 0; i < n; i++) {
    const o = i * ROW;
    try {
      const sock = sockets[rows[o + 1]];
      if (sock === undefined) continue;
      if (rows[o] === K_MSG) message(sock, o, pool);
      else deliver(rows[o], sock, o, errs);
    } catch (err) {
      if (thrown === undefined) thrown = err;
      else process.nextTick(() => { throw err; });
    }
  }
  if (qCount > 0) scheduleFlush();
  if (thrown !== undefined) throw thrown;
}

// A datagram: a view of the addon's receive pool (never written again, so a kept message stays
// intact) and its rinfo. With one 'message' listener and emit() not replaced, the listener is
// called as emit() would call it, without emit()'s argument list.
function message(sock, o, pool) {
  const state = sock[kState];
  if (!state.receiving) return;
  const len = rows[o + 3];
  const src = rows[o + 5];
  const buf = Buffer.from(pool, rows[o + 2], len);
  const rinfo = { address: srcText[src], family: srcFamily[src], port: rows[o + 4], size: len };
  const events = sock._events;
  const handler = events !== undefined ? events.message : undefined;
  if (typeof handler === 'function' && sock.emit === emitProto && !state.capture &&
      sock.domain == null) {
    handler.call(sock, buf, rinfo);
  } else {
    sock.emit('message', buf, rinfo);
  }
}

function deliver(kind, sock, o, errs) {
  switch (kind) {
    case K_SEND:
      completeSend(rows[o + 2], rows[o + 3], rows[o + 4]);
      return;
    case K_LISTENING:
      onListening(sock);
      return;
    case K_CONNECT:
      onConnect(sock, rows[o + 2]);
      return;
    case K_CLOSED:
      sockets[sock[kState].id] = undefined;
      return;
    case K_ERROR: {
      const [syscall, address, port] = errs[rows[o + 3]];
      onAsyncError(sock, rows[o + 2], syscall, address, port);
      return;
    }
  }
}

// ---- Socket ---------------------------------------------------------------------------------

function lookup4(lookup, address, callback) {
  return lookup(address || '127.0.0.1', 4, callback);
}

function lookup6(lookup, address, callback) {
  return lookup(address || '::1', 6, callback);
}

function Socket(type, listener) {
  EventEmitter.call(this);
  let lookup;
  let options;
  if (type !== null && typeof type === 'object') {
    options = type;
    type = options.type;
    lookup = options.lookup;
  }
  if (type !== 'udp4' && type !== 'udp6') throw E.badType();
  if (lookup !== undefined && typeof lookup !== 'function') {
    throw E.invalidArgType('lookup', 'of type function', lookup);
  }
  const recvBufferSize = bufferSizeOption(options, 'recvBufferSize');
  const sendBufferSize = bufferSizeOption(options, 'sendBufferSize');
  this.type = type;
  if (typeof listener === 'function') this.on('message', listener);
  start();
  const id = addon.create(type === 'udp6' ? 6 : 4, !!options?.reuseAddr, !!options?.ipv6Only,
    !!options?.reusePort, recvBufferSize, sendBufferSize);
  if (id < 0) throw E.errnoException(toErrno(id), 'socket');
  sockets[id] = this;
  this[kState] = {
    id,
    open: true,
    lookup: (type === 'udp4' ? lookup4 : lookup6).bind(null, lookup || dns.lookup),
    defaultLookup: lookup === undefined,
    family: type === 'udp4' ? 4 : 6,
    receiving: false,
    bindState: UNBOUND,
    connectState: DISCONNECTED,
    queue: undefined,
    reuseAddr: options?.reuseAddr,
    ipv6Only: options?.ipv6Only,
    refd: true,
    holding: false,
    qBytes: 0,
    qCount: 0,
    bindPort: 0,
    bindAddress: '',
    connectPort: 0,
    connectAddress: '',
    connectCb: undefined,
    // EventEmitter's captureRejections as this socket was made with it (emit() then handles
    // a listener's rejected promise, so 'message' goes through emit()).
    capture: EventEmitter.captureRejections === true,
  };
  if (options?.signal !== undefined) watchSignal(this, options.signal);
}
Object.setPrototypeOf(Socket.prototype, EventEmitter.prototype);
Object.setPrototypeOf(Socket, EventEmitter);

// Truthy sizes must be uint32 (Node validates them in the constructor); 0/NaN mean "unset".
function bufferSizeOption(options, name) {
  const v = options?.[name];
  if (!v) return 0;
  if (typeof v !== 'number') throw E.invalidArgType(`options.${name}`, 'of type number', v);
  if (!Number.isInteger(v) || v < 0 || v > 0xFFFFFFFF) {
    throw E.outOfRange(`options.${name}`, '>= 0 && <= 4294967295', v);
  }
  return v;
}

function watchSignal(sock, signal) {
  if (signal === null || typeof signal !== 'object' || !('aborted' in signal)) {
    throw E.invalidArgType('options.signal', 'an instance of AbortSignal', signal);
  }
  const onAborted = () => {
    if (sock[kState].open) sock.close();
  };
  if (signal.aborted) {
    onAborted();
  } else {
    signal.addEventListener('abort', onAborted);
    sock.once('close', () => signal.removeEventListener('abort', onAborted));
  }
}

function createSocket(type, listener) {
  return new Socket(type, listener);
}

function healthCheck(sock) {
  if (!sock[kState].open) throw E.notRunning();
}

// A socket keeps Node alive while it is open, referenced and bound or binding (node:dgram's
// handle is active from bind on; an unbound socket never holds the loop).
function updateHold(sock) {
  const s = sock[kState];
  const want = s.open && s.refd && s.bindState !== UNBOUND;
  if (want !== s.holding) {
    s.holding = want;
    hold(want ? 1 : -1);
  }
}

Socket.prototype.bind = function(port_, address_ /* , callback */) {
  let port = port_;
  healthCheck(this);
  const state = this[kState];
  if (state.bindState !== UNBOUND) throw E.alreadyBound();
  state.bindState = BINDING;
  updateHold(this);

  const cb = arguments.length && arguments[arguments.length - 1];
  if (typeof cb === 'function') {
    function removeListeners() {
      this.removeListener('error', removeListeners);
      this.removeListener('listening', onListeningCb);
    }
    function onListeningCb() {
      removeListeners.call(this);
      cb.call(this);
    }
    this.on('error', removeListeners);
    this.on('listening', onListeningCb);
  }

  if (port !== null && typeof port === 'object' && Number.isInteger(port.fd) && port.fd > 0) {
    const r = addon.bind(state.id, null, 0, port.fd);
    if (r < 0) {
      state.bindState = UNBOUND;
      updateHold(this);
      if (r === -5013) throw E.invalidFdType('UNKNOWN');
      throw E.errnoException(toErrno(r), 'open');
    }
    return this;
  }

  let address;
  if (port !== null && typeof port === 'object') {
    address = port.address || '';
    port = port.port;
  } else {
    address = typeof address_ === 'function' ? '' : address_;
  }
  if (!address) address = this.type === 'udp4' ? '0.0.0.0' : '::';
  // As node:dgram's native layer: the port is read as uint32 and cut to 16 bits.
  port = (Number(port) >>> 0) & 0xFFFF;

  state.lookup(address, (err, ip) => {
    if (!state.open) return; // closed while the lookup ran
    if (err) {
      state.bindState = UNBOUND;
      updateHold(this);
      this.emit('error', err);
      return;
    }
    state.bindPort = port;
    state.bindAddress = ip;
    const r = addon.bind(state.id, ip, port, -1);
    if (r < 0) bindFailed(this, r === -5006 ? -22 : toErrno(r), ip, port);
  });
  return this;
};

function bindFailed(sock, errno, ip, port) {
  const state = sock[kState];
  state.bindState = UNBOUND;
  updateHold(sock);
  sock.emit('error', E.exceptionWithHostPort(errno, 'bind', ip, port));
}

function onListening(sock) {
  const state = sock[kState];
  if (!state.open) return;
  state.receiving = true;
  state.bindState = BOUND;
  updateHold(sock);
  sock.emit('listening');
}

function onAsyncError(sock, code, syscall, address, port) {
  const state = sock[kState];
  if (!state.open) return;
  if (syscall === 'bind' || (syscall === 'getaddrinfo' && state.bindState === BINDING)) {
    bindFailed(sock, toErrno(code), state.bindAddress || address, state.bindPort || port);
    return;
  }
  if (syscall === 'recvmsg') {
    sock.emit('error', E.errnoException(toErrno(code), 'recvmsg'));
    return;
  }
  sock.emit('error', E.exceptionWithHostPort(toErrno(code), syscall, address, port));
}

// Operations waiting for the bind in progress (node:dgram's queue): flushed in order on
// 'listening', dropped on a bind error.
function enqueue(sock, op) {
  const state = sock[kState];
  if (state.queue === undefined) {
    state.queue = [];
    sock.once(EventEmitter.errorMonitor, onListenError);
    sock.once('listening', onListenSuccess);
  }
  state.queue.push(op);
}

function onListenSuccess() {
  this.removeListener(EventEmitter.errorMonitor, onListenError);
  const queue = this[kState].queue;
  this[kState].queue = undefined;
  for (const op of queue) op();
}

function onListenError() {
  this.removeListener('listening', onListenSuccess);
  this[kState].queue = undefined;
}

Socket.prototype.connect = function(port, address, callback) {
  port = E.validatePort(port, 'Port', false);
  if (typeof address === 'function') {
    callback = address;
    address = '';
  } else if (address === undefined) {
    address = '';
  }
  E.validateString(address, 'address');
  const state = this[kState];
  if (state.connectState !== DISCONNECTED) throw E.isConnected();
  state.connectState = CONNECTING;
  if (state.bindState === UNBOUND) this.bind({ port: 0, exclusive: true }, null);
  if (state.bindState !== BOUND) {
    enqueue(this, doConnectLookup.bind(this, port, address, callback));
    return;
  }
  doConnectLookup.call(this, port, address, callback);
};

function doConnectLookup(port, address, callback) {
  const state = this[kState];
  if (callback) this.once('connect', callback);
  hold(1);
  state.lookup(address, (ex, ip) => {
    if (!state.open) {
      hold(-1);
      return;
    }
    if (!ex) {
      state.connectPort = port;
      state.connectAddress = address;
      state.connectCb = callback;
      const r = addon.connect(state.id, ip, port);
      if (r >= 0) return; // the CONNECT row finishes it
      ex = E.exceptionWithHostPort(toErrno(r), 'connect', address, port);
    }
    hold(-1);
    connectFailed(this, ex, callback);
  });
}

function connectFailed(sock, ex, callback) {
  sock[kState].connectState = DISCONNECTED;
  process.nextTick(() => {
    if (callback) {
      sock.removeListener('connect', callback);
      callback(ex);
    } else {
      sock.emit('error', ex);
    }
  });
}

function onConnect(sock, status) {
  const state = sock[kState];
  hold(-1);
  if (!state.open) return;
  if (status < 0) {
    connectFailed(sock, E.exceptionWithHostPort(toErrno(status), 'connect',
      state.connectAddress, state.connectPort), state.connectCb);
    return;
  }
  state.connectState = CONNECTED;
  sock.emit('connect');
}

Socket.prototype.disconnect = function() {
  const state = this[kState];
  if (state.connectState !== CONNECTED) throw E.notConnected();
  const r = addon.disconnect(state.id);
  if (r < 0) throw E.errnoException(toErrno(r), 'connect');
  state.connectState = DISCONNECTED;
};

// Bytes of a message (a string, a view, or a list of both) as Uint8Array views; undefined when
// an element is of a wrong type.
function toView(b) {
  if (typeof b === 'string') return Buffer.from(b);
  if (b instanceof Uint8Array) return b;
  if (ArrayBuffer.isView(b)) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return undefined;
}

function fixBufferList(list) {
  const out = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = toView(list[i]);
    if (v === undefined) return null;
    out[i] = v;
  }
  return out;
}

function sliceBuffer(buffer, offset, length) {
  if (typeof buffer === 'string') buffer = Buffer.from(buffer);
  else if (!ArrayBuffer.isView(buffer)) throw E.invalidArgType('buffer', E.BUFFER_TYPES, buffer);
  offset = offset >>> 0;
  length = length >>> 0;
  if (offset > buffer.byteLength) throw E.outOfBounds('offset');
  if (offset + length > buffer.byteLength) throw E.outOfBounds('length');
  return Buffer.from(buffer.buffer, buffer.byteOffset + offset, length);
}

Socket.prototype.send = function(buffer, offset, length, port, address, callback) {
  const state = this[kState];
  // The calls a send loop makes, send(buf[, cb]) connected and send(buf, port, address[, cb])
  // to a literal already known, on an open bound socket: the checks below in one pass, and the
  // datagram queued without a list.
  if (buffer instanceof Uint8Array && state.bindState === BOUND && state.open) {
    if (state.connectState === CONNECTED) {
      if (length === undefined && port === undefined && address === undefined &&
          (offset === undefined || typeof offset === 'function')) {
        sendOne(this, state, -1, undefined, buffer, undefined, offset);
        return;
      }
    } else if (typeof offset === 'number' && typeof length === 'string' &&
               address === undefined && (port === undefined || typeof port === 'function') &&
               offset === (offset & 0xFFFF) && offset !== 0 && state.defaultLookup) {
      const id = destIds.get(length);
      if (id !== undefined) {
        sendOne(this, state, id, offset, buffer, length, port);
        return;
      }
    }
  }
  let list;
  const connected = state.connectState === CONNECTED;
  if (!connected) {
    if (address || (port && typeof port !== 'function')) {
      buffer = sliceBuffer(buffer, offset, length);
    } else {
      callback = port;
      port = offset;
      address = length;
    }
  } else {
    if (typeof length === 'number') {
      buffer = sliceBuffer(buffer, offset, length);
      if (typeof port === 'function') {
        callback = port;
        port = null;
      }
    } else {
      callback = offset;
    }
    if (port || address) throw E.isConnected();
  }

  if (!Array.isArray(buffer)) {
    const v = toView(buffer);
    if (v === undefined) throw E.invalidArgType('buffer', E.BUFFER_TYPES, buffer);
    list = [v];
  } else if (!(list = fixBufferList(buffer))) {
    throw E.invalidArgType('buffer list arguments', E.BUFFER_TYPES, buffer);
  }

  if (!connected) port = E.validatePort(port, 'Port', false);
  if (typeof callback !== 'function') callback = undefined;
  if (typeof address === 'function') {
    callback = address;
    address = undefined;
  } else if (address != null) {
    E.validateString(address, 'address');
  }

  healthCheck(this);
  if (state.bindState === UNBOUND) this.bind({ port: 0, exclusive: true }, null);
  if (list.length === 0) list.push(Buffer.alloc(0));
  // udg takes at most SENDV_MAX pieces per datagram; node:dgram sends any number as one.
  if (list.length > SENDV_MAX) list = [Buffer.concat(list)];
  if (state.bindState !== BOUND) {
    enqueue(this, this.send.bind(this, list, port, address, callback));
    return;
  }
  if (connected) {
    doSend(this, -1, list, address, port, callback);
    return;
  }
  // The built-in resolver answers a literal itself; the datagram then waits only for this
  // tick's flush, which already makes it leave after send() returns.
  if (state.defaultLookup && address) {
    const id = destIds.get(address);
    if (id !== undefined || net.isIP(address) !== 0) {
      doSend(this, id ?? destId(address), list, address, port, callback);
      return;
    }
  }
  state.lookup(address, (ex, ip) => {
    if (ex) {
      if (callback) process.nextTick(callback, ex);
      else process.nextTick(() => this.emit('error', ex));
      return;
    }
    if (!state.open) return;
    doSend(this, destId(ip), list, address, port, callback);
  });
};

// send()'s fast path: one view, checked; the callback, if a function, gets the result.
function sendOne(sock, state, dst, port, buf, address, callback) {
  let reqId = 0;
  if (typeof callback === 'function') {
    reqId = (reqSeq = (reqSeq + 1) | 0) || (reqSeq = 1);
    pendingSends.set(reqId, { cb: callback, list: buf, address, port });
    hold(1);
  }
  pushPiece(buf);
  queueHead(sock, state, dst, dst === -1 ? 0 : port, 1, buf.byteLength, reqId);
}

function doSend(sock, dst, list, address, port, callback) {
  let bytes = 0;
  for (let i = 0; i < list.length; i++) bytes += list[i].byteLength;
  if (dst < 0 && dst !== -1) {
    // The address text did not parse as a numeric address.
    if (callback) {
      const err = E.exceptionWithHostPort(-22, 'send', address, port);
      process.nextTick(callback, err);
    }
    return;
  }
  let reqId = 0;
  if (callback) {
    reqId = (reqSeq = (reqSeq + 1) | 0) || (reqSeq = 1);
    pendingSends.set(reqId, { cb: callback, list, address, port });
    hold(1);
  }
  queueSend(sock, dst, port, list, bytes, reqId);
}

// node:dgram's undocumented sendto(buffer, offset, length, port, address[, callback]).
Socket.prototype.sendto = function(buffer, offset, length, port, address, callback) {
  E.validateNumber(offset, 'offset');
  E.validateNumber(length, 'length');
  E.validateNumber(port, 'port');
  E.validateString(address, 'address');
  this.send(buffer, offset, length, port, address, callback);
};

Socket.prototype.close = function(callback) {
  const state = this[kState];
  const queue = state.queue;
  if (typeof callback === 'function') this.on('close', callback);
  if (queue !== undefined) {
    queue.push(this.close.bind(this));
    return this;
  }
  healthCheck(this);
  // Connected datagrams of this tick leave before the socket closes (node:dgram hands them to
  // the kernel inside send()); unconnected ones are still "in lookup" in node:dgram's terms,
  // and a lookup that ends after close() drops its datagram without a callback.
  if (state.qCount > 0) {
    dropUnconnected(this);
    flushSends();
  }
  state.receiving = false;
  state.open = false;
  updateHold(this);
  addon.close(state.id);
  process.nextTick(() => this.emit('close'));
  return this;
};

Socket.prototype[Symbol.asyncDispose] = async function() {
  if (!this[kState].open) return;
  await new Promise((resolve, reject) => {
    this.close((err) => (err ? reject(err) : resolve()));
  });
};

function addressOf(sock, remote) {
  const r = addon.address(sock[kState].id, remote);
  if (typeof r === 'number') {
    if (remote && r === -5008) throw E.notConnected();
    throw E.errnoException(toErrno(r), remote ? 'getpeername' : 'getsockname');
  }
  return { address: r[0], family: r[1], port: r[2] };
}

Socket.prototype.address = function() {
  healthCheck(this);
  return addressOf(this, false);
};

Socket.prototype.remoteAddress = function() {
  healthCheck(this);
  if (this[kState].connectState !== CONNECTED) throw E.notConnected();
  return addressOf(this, true);
};

function setopt(sock, which, value, syscall) {
  healthCheck(sock);
  const r = addon.setopt(sock[kState].id, which, value);
  if (r < 0) throw E.errnoException(toErrno(r), syscall);
}

Socket.prototype.setBroadcast = function(arg) {
  setopt(this, 0, arg ? 1 : 0, 'setBroadcast');
};

Socket.prototype.setTTL = function(ttl) {
  E.validateNumber(ttl, 'ttl');
  setopt(this, 1, ttl | 0, 'setTTL');
  return ttl;
};

Socket.prototype.setMulticastTTL = function(ttl) {
  E.validateNumber(ttl, 'ttl');
  setopt(this, 2, ttl | 0, 'setMulticastTTL');
  return ttl;
};

Socket.prototype.setMulticastLoopback = function(arg) {
  setopt(this, 3, arg ? 1 : 0, 'setMulticastLoopback');
  return arg;
};

Socket.prototype.setMulticastInterface = function(interfaceAddress) {
  healthCheck(this);
  E.validateString(interfaceAddress, 'interfaceAddress');
  const r = addon.setMulticastInterface(this[kState].id, interfaceAddress);
  if (r < 0) throw E.errnoException(toErrno(r), 'setMulticastInterface');
};

function membership(sock, add, source, group, iface, syscall) {
  const r = addon.membership(sock[kState].id, add, source, group, iface ?? null);
  if (r < 0) throw E.errnoException(toErrno(r), syscall);
}

Socket.prototype.addMembership = function(multicastAddress, interfaceAddress) {
  healthCheck(this);
  if (!multicastAddress) throw E.missingArgs('multicastAddress');
  membership(this, true, null, String(multicastAddress), interfaceAddress, 'addMembership');
};

Socket.prototype.dropMembership = function(multicastAddress, interfaceAddress) {
  healthCheck(this);
  if (!multicastAddress) throw E.missingArgs('multicastAddress');
  membership(this, false, null, String(multicastAddress), interfaceAddress, 'dropMembership');
};

Socket.prototype.addSourceSpecificMembership = function(source, group, iface) {
  healthCheck(this);
  E.validateString(source, 'sourceAddress');
  E.validateString(group, 'groupAddress');
  membership(this, true, source, group, iface, 'addSourceSpecificMembership');
};

Socket.prototype.dropSourceSpecificMembership = function(source, group, iface) {
  healthCheck(this);
  E.validateString(source, 'sourceAddress');
  E.validateString(group, 'groupAddress');
  membership(this, false, source, group, iface, 'dropSourceSpecificMembership');
};

Socket.prototype.ref = function() {
  const state = this[kState];
  if (state.open) {
    state.refd = true;
    updateHold(this);
  }
  return this;
};

Socket.prototype.unref = function() {
  const state = this[kState];
  if (state.open) {
    state.refd = false;
    updateHold(this);
  }
  return this;
};

// get/set*BufferSize: uint32 sizes; the kernel's errors (EBADF unbound, EINVAL > 2^31-1) as
// ERR_SOCKET_BUFFER_SIZE, which names the errno as libuv does.
function bufferSize(sock, size, recv) {
  if (size >>> 0 !== size) throw E.badBufferSize();
  const state = sock[kState];
  if (!state.open) throw E.notRunning();
  if (state.bindState !== BOUND) throw E.bufferSizeError(-9, recv);
  if (size > 0x7FFFFFFF) throw E.bufferSizeError(-22, recv);
  const r = addon.bufferSize(state.id, recv, size);
  if (r < 0) throw E.bufferSizeError(r > -4096 ? r : -22, recv);
  return r;
}

Socket.prototype.setRecvBufferSize = function(size) {
  bufferSize(this, size, true);
};

Socket.prototype.setSendBufferSize = function(size) {
  bufferSize(this, size, false);
};

Socket.prototype.getRecvBufferSize = function() {
  return bufferSize(this, 0, true);
};

Socket.prototype.getSendBufferSize = function() {
  return bufferSize(this, 0, false);
};

// Bytes and datagrams accepted but not completed: those waiting for this tick's flush plus
// those in flight in udg.
Socket.prototype.getSendQueueSize = function() {
  const s = this[kState];
  return s.open ? s.qBytes + addon.queue(s.id, false) : 0;
};

Socket.prototype.getSendQueueCount = function() {
  const s = this[kState];
  return s.open ? s.qCount + addon.queue(s.id, true) : 0;
};

// ---- node:dgram's deprecated members (DEP0112) ------------------------------------------------

function deprecatedProperty(name, get, set) {
  const msg = `Socket.prototype.${name} is deprecated`;
  Object.defineProperty(Socket.prototype, name, {
    get: util.deprecate(function() { return get(this[kState]); }, msg, 'DEP0112'),
    set: util.deprecate(function(v) { set(this[kState], v); }, msg, 'DEP0112'),
    configurable: true,
  });
}

deprecatedProperty('_handle', (s) => (s.open ? { id: s.id } : null), () => {});
deprecatedProperty('_receiving', (s) => s.receiving, (s, v) => { s.receiving = v; });
deprecatedProperty('_bindState', (s) => s.bindState, (s, v) => { s.bindState = v; });
deprecatedProperty('_queue', (s) => s.queue, (s, v) => { s.queue = v; });
deprecatedProperty('_reuseAddr', (s) => s.reuseAddr, (s, v) => { s.reuseAddr = v; });

Socket.prototype._healthCheck = util.deprecate(function() {
  healthCheck(this);
}, 'Socket.prototype._healthCheck() is deprecated', 'DEP0112');

Socket.prototype._stopReceiving = util.deprecate(function() {
  this[kState].receiving = false;
}, 'Socket.prototype._stopReceiving() is deprecated', 'DEP0112');

module.exports = { createSocket, Socket };
