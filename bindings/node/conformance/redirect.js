// bindings/node/conformance/redirect.js — preloaded with `node -r` by
// scripts/node-conformance.sh: makes require('dgram'), require('node:dgram') and
// `import dgram from 'node:dgram'` all return udg's implementation, so Node's own
// test/parallel/test-dgram-*.js run unchanged against the addon.
'use strict';

const Module = require('node:module');
const udg = require('../index.js');
const builtin = require('node:dgram');

// The built-in module object itself is patched (CommonJS require and, after the sync, the ESM
// namespace of node:dgram both read it).
builtin.createSocket = udg.createSocket;
builtin.Socket = udg.Socket;
Module.syncBuiltinESMExports();
