// bindings/node/load.js — finds and loads the compiled addon udg.node: $UDG_NODE_ADDON, then
// next to this file (an installed package), then the build trees of a udg checkout
// (build/ from `make node`, build-release/ from `make bench`).
'use strict';

const path = require('node:path');
const fs = require('node:fs');

const candidates = [
  process.env.UDG_NODE_ADDON,
  path.join(__dirname, 'udg.node'),
  path.join(__dirname, '..', '..', 'build', 'bindings', 'node', 'udg.node'),
  path.join(__dirname, '..', '..', 'build-release', 'bindings', 'node', 'udg.node'),
].filter(Boolean);

const found = candidates.find((p) => fs.existsSync(p));
if (!found) {
  throw new Error(`udg: the addon udg.node is not built (looked in ${candidates.join(', ')}); ` +
    'run `make node` in the udg source tree');
}
module.exports = require(found);
