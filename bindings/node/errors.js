// bindings/node/errors.js — the error objects node:dgram throws and emits, built the way Node
// builds them: ERR_* codes on TypeError/RangeError/Error, errno errors with code, errno,
// syscall (and address, port), and the SystemError of the buffer-size calls.
'use strict';

const util = require('node:util');

// The stack of a Node error starts "TypeError [ERR_X]: message"; toString() says the same.
function codeError(Base, code, message) {
  const err = new Base(message);
  const name = err.name;
  Object.defineProperty(err, 'name', { value: `${name} [${code}]`, configurable: true, writable: true });
  err.stack; // eslint-disable-line no-unused-expressions -- capture the stack with that name
  delete err.name;
  Object.defineProperty(err, 'toString', {
    value() { return `${this.name} [${code}]: ${this.message}`; },
    enumerable: false, configurable: true, writable: true,
  });
  err.code = code;
  return err;
}

// " Received ..." as Node's ERR_INVALID_ARG_TYPE writes it.
function received(value) {
  if (value == null) return ` Received ${value}`;
  if (typeof value === 'function' && value.name) return ` Received function ${value.name}`;
  if (typeof value === 'object') {
    if (value.constructor?.name) return ` Received an instance of ${value.constructor.name}`;
    return ` Received ${util.inspect(value, { depth: -1 })}`;
  }
  let shown = util.inspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return ` Received type ${typeof value} (${shown})`;
}

const BUFFER_TYPES = 'of type string or an instance of Buffer, TypedArray, or DataView';

function invalidArgType(name, expected, value) {
  const what = name.includes('.') ? 'property' : 'argument';
  return codeError(TypeError, 'ERR_INVALID_ARG_TYPE',
    `The "${name}" ${what} must be ${expected}.${received(value)}`);
}

function validateString(value, name) {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
}

function validateNumber(value, name) {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
}

function specificType(value) {
  if (value == null) return `${value}`;
  if (typeof value === 'function' && value.name) return `function ${value.name}`;
  if (typeof value === 'object') {
    if (value.constructor?.name) return `an instance of ${value.constructor.name}`;
    return util.inspect(value, { depth: -1 });
  }
  let shown = util.inspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `type ${typeof value} (${shown})`;
}

// Node's validatePort: numbers and numeric strings 0..65535 (0 only when allowed).
function validatePort(port, name = 'Port', allowZero = true) {
  if ((typeof port !== 'number' && typeof port !== 'string') ||
      (typeof port === 'string' && port.trim().length === 0) ||
      +port !== (+port >>> 0) || port > 0xFFFF || (port === 0 && !allowZero)) {
    throw codeError(RangeError, 'ERR_SOCKET_BAD_PORT',
      `${name} should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${specificType(port)}.`);
  }
  return port | 0;
}

const errnoName = (errno) => {
  try {
    return util.getSystemErrorName(errno);
  } catch {
    return 'UNKNOWN';
  }
};

// "<syscall> <CODE>" with errno, code, syscall (Node's errnoException).
function errnoException(errno, syscall) {
  const code = errnoName(errno);
  const err = new Error(`${syscall} ${code}`);
  err.errno = errno;
  err.code = code;
  err.syscall = syscall;
  return err;
}

// "<syscall> <CODE> <address>[:<port>]" with address and port (Node's exceptionWithHostPort).
function exceptionWithHostPort(errno, syscall, address, port) {
  const code = errnoName(errno);
  let details = '';
  if (port && port > 0) details = ` ${address}:${port}`;
  else if (address) details = ` ${address}`;
  const err = new Error(`${syscall} ${code}${details}`);
  err.errno = errno;
  err.code = code;
  err.syscall = syscall;
  err.address = address;
  if (port) err.port = port;
  return err;
}

class SystemError extends Error {
  get name() { return 'SystemError'; }
}

// ERR_SOCKET_BUFFER_SIZE: "Could not get or set buffer size: uv_recv_buffer_size returned EBADF
// (bad file descriptor)", with info {errno, code, message, syscall} and errno/syscall accessors.
function bufferSizeError(errno, recv) {
  const [code, text] = util.getSystemErrorMap().get(errno) || ['UNKNOWN', 'unknown error'];
  const syscall = recv ? 'uv_recv_buffer_size' : 'uv_send_buffer_size';
  const info = { errno, code, message: text, syscall };
  const err = new SystemError(
    `Could not get or set buffer size: ${syscall} returned ${code} (${text})`);
  err.code = 'ERR_SOCKET_BUFFER_SIZE';
  err.info = info;
  for (const key of ['errno', 'syscall']) {
    Object.defineProperty(err, key, {
      get() { return info[key]; },
      set(v) { info[key] = v; },
      enumerable: true, configurable: true,
    });
  }
  return err;
}

const simple = (Base, code, message) => () => codeError(Base, code, message);

module.exports = {
  BUFFER_TYPES,
  codeError,
  invalidArgType,
  validateString,
  validateNumber,
  validatePort,
  errnoException,
  exceptionWithHostPort,
  bufferSizeError,
  badType: simple(TypeError, 'ERR_SOCKET_BAD_TYPE',
    'Bad socket type specified. Valid types are: udp4, udp6'),
  alreadyBound: simple(Error, 'ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound'),
  isConnected: simple(Error, 'ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected'),
  notConnected: simple(Error, 'ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected'),
  notRunning: simple(Error, 'ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running'),
  badBufferSize: simple(TypeError, 'ERR_SOCKET_BAD_BUFFER_SIZE',
    'Buffer size must be a positive integer'),
  missingArgs: (name) => codeError(TypeError, 'ERR_MISSING_ARGS',
    `The "${name}" argument must be specified`),
  outOfBounds: (name) => codeError(RangeError, 'ERR_BUFFER_OUT_OF_BOUNDS',
    `"${name}" is outside of buffer bounds`),
  outOfRange: (name, range, value) => codeError(RangeError, 'ERR_OUT_OF_RANGE',
    `The value of "${name}" is out of range. It must be ${range}. Received ${util.inspect(value)}`),
  invalidFdType: (type) => codeError(TypeError, 'ERR_INVALID_FD_TYPE', `Unsupported fd type: ${type}`),
};
