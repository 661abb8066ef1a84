#!/usr/bin/env node
// The atomiton Node.js worker: runs TypeScript/JavaScript nodes for the engine.
//
// Speaks the worker protocol (docs/worker-protocol.md) on stdin/stdout: answers `initialize`,
// `execute` (import the module, call `handler(inputs, parameters, ctx)`), `evaluate` (inline
// JavaScript in a vm context), `shutdown`; obeys `cancel` (aborts ctx.signal, answers -32800)
// and `exit`. console.log and friends are sent to stderr so they cannot corrupt the protocol.
//
// Frames go out with one blocking fs.writeSync on fd 1: process.stdout is never touched (its
// stream machinery costs microseconds per frame, and opening it would make fd 1 non-blocking).
// Having answered, with no call waiting on a promise, the worker polls stdin for the next
// request for a moment before it goes back to the event loop (lib/idle-spin.mjs).

import { writeSync } from 'node:fs';
import { EvaluateError, evaluate } from './lib/evaluate.mjs';
import { FrameDecoder, ProtocolError, encodeFrame } from './lib/framing.mjs';
import { HandlerError, cachedHandler, loadHandler, registerTypeScript } from './lib/loader.mjs';
import { IdleSpin } from './lib/idle-spin.mjs';
import { outputsFromReturn } from './lib/outputs.mjs';

const PROTOCOL_VERSION = '1.0';
const WORKER_VERSION = '1.0.0';
const CODES = { parse: -32700, invalidRequest: -32600, methodNotFound: -32601, invalidParams: -32602, unknownNode: -32001, nodeFailed: -32000, cancelled: -32800 };
const LEVELS = new Set(['debug', 'info', 'warning', 'error']);

for (const name of ['log', 'info', 'debug', 'warn', 'error', 'trace']) {
  const write = (...args) => process.stderr.write(`${args.map(String).join(' ')}\n`);
  console[name] = write;
}

const PROTOCOL_FD = 1;
const pause = new Int32Array(new SharedArrayBuffer(4));

function send(message) {
  const frame = encodeFrame(message);
  for (let offset = 0; offset < frame.length;) {
    try {
      offset += writeSync(PROTOCOL_FD, frame, offset);
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err;
      Atomics.wait(pause, 0, 0, 1); // fd 1 was made non-blocking by someone: wait for room
    }
  }
}

function reply(id, result) {
  send({ jsonrpc: '2.0', id, result });
}

function fail(id, code, message, err) {
  const error = { code, message };
  if (err !== undefined) error.data = describe(err);
  send({ jsonrpc: '2.0', id, error });
}

function describe(err) {
  if (err !== null && typeof err === 'object' && 'message' in err) {
    return { type: String(err.name ?? err.constructor?.name ?? 'Error'), message: String(err.message), stack: String(err.stack ?? '') };
  }
  return { type: typeof err, message: String(err), stack: '' };
}

let current = null; // the running Call

// A running call. Its AbortController is made on first use (most handlers never look at
// ctx.signal, and making one costs microseconds); stopped() settles when a cancel arrives, for
// executeAsync to race against the handler.
class Call {
  constructor(id) {
    this.id = id;
    this.cancelled = false;
    this.controller_ = null;
    this.onCancel = null;
  }

  get controller() {
    if (this.controller_ === null) {
      this.controller_ = new AbortController();
      if (this.cancelled) this.controller_.abort();
    }
    return this.controller_;
  }

  stopped() {
    return new Promise((resolve) => {
      this.onCancel = resolve;
    });
  }

  cancel() {
    this.cancelled = true;
    this.controller_?.abort();
    this.onCancel?.();
  }
}

function context(id, params, call) {
  return {
    runId: params.runId,
    nodeId: params.nodeId,
    attempt: params.attempt ?? 1,
    artifactDir: params.artifactDir,
    variables: params.variables ?? {},
    get signal() {
      return call.controller.signal;
    },
    get cancelled() {
      return call.cancelled;
    },
    progress(percent, message = '') {
      send({ jsonrpc: '2.0', method: 'progress', params: { requestId: id, percent: Number(percent), message: String(message) } });
    },
    log(level, message) {
      if (message === undefined || !LEVELS.has(level)) [level, message] = ['info', message === undefined ? level : `${level} ${message}`];
      send({ jsonrpc: '2.0', method: 'log', params: { requestId: id, level, message: String(message) } });
    },
  };
}

function execute(id, params) {
  const handler = cachedHandler(params.module, params.handler);
  if (handler === null) return void executeAsync(id, params, null);
  // Fast path, no event-loop turn: a handler that returns a plain value (not a promise) is
  // answered at once; no cancel can arrive while it runs, the event loop being busy with it.
  const call = new Call(id);
  current = call;
  let value;
  try {
    value = handler(params.inputs ?? {}, params.parameters ?? {}, context(id, params, call));
    if (value === null || typeof value?.then !== 'function') {
      current = null;
      return reply(id, { outputs: outputsFromReturn(value, params.outputPorts) });
    }
  } catch (err) {
    current = null;
    const info = describe(err);
    return fail(id, CODES.nodeFailed, `${info.type}: ${info.message}`, err);
  }
  return void executeAsync(id, params, { call, value });
}

async function executeAsync(id, params, started) {
  const call = started?.call ?? new Call(id);
  current = call;
  const stopped = call.stopped();
  try {
    let running;
    if (started) {
      running = Promise.resolve(started.value);
    } else {
      const handler = await loadHandler(params.module, params.handler);
      const ctx = context(id, params, call);
      running = Promise.resolve().then(() => handler(params.inputs ?? {}, params.parameters ?? {}, ctx));
    }
    running.catch(() => {}); // a failure after cancellation has no one to report to
    const value = await Promise.race([running, stopped]);
    if (call.cancelled) return fail(id, CODES.cancelled, `request ${id} was cancelled`, { name: 'AbortError', message: `request ${id} was cancelled`, stack: '' });
    reply(id, { outputs: outputsFromReturn(value, params.outputPorts) });
  } catch (err) {
    if (call.cancelled) return fail(id, CODES.cancelled, `request ${id} was cancelled`, err);
    if (err instanceof HandlerError) return fail(id, CODES.unknownNode, err.message, err);
    const info = describe(err);
    fail(id, CODES.nodeFailed, `${info.type}: ${info.message}`, err);
  } finally {
    if (current?.id === id) {
      current = null;
      setImmediate(awaitNext); // after this turn's other callbacks, as the data event does
    }
  }
}

function initialize(id, params) {
  const version = String(params.protocolVersion ?? '');
  if (version.split('.')[0] !== PROTOCOL_VERSION.split('.')[0]) {
    return fail(id, CODES.invalidRequest, `protocol version ${JSON.stringify(version)} is not supported; this worker speaks ${PROTOCOL_VERSION}`);
  }
  registerTypeScript(process.env.ATOMITON_TS_CACHE_DIR || null);
  reply(id, {
    protocolVersion: PROTOCOL_VERSION,
    worker: { name: 'atomiton-node-worker', language: 'javascript', version: WORKER_VERSION, pid: process.pid },
    capabilities: { cancel: true, progress: true, logs: true, evaluate: true },
    nodes: [],
  });
}

function runEvaluate(id, params) {
  try {
    reply(id, { value: evaluate(params) });
  } catch (err) {
    if (err instanceof EvaluateError && err.name === 'TypeError') return fail(id, CODES.invalidParams, err.message, err);
    const info = describe(err);
    fail(id, CODES.nodeFailed, `${info.type}: ${info.message}`, err);
  }
}

function dispatch(message) {
  const { id, method } = message;
  const params = message.params ?? {};
  if (message.jsonrpc !== '2.0' || typeof method !== 'string' || typeof params !== 'object') {
    return fail(id ?? null, CODES.invalidRequest, 'invalid request: expected JSON-RPC 2.0 with a method');
  }
  switch (method) {
    case 'execute': return execute(id, params);
    case 'evaluate': return runEvaluate(id, params);
    case 'cancel':
      if (current && current.id === params.requestId) current.cancel();
      return undefined;
    case 'initialize': return initialize(id, params);
    case 'shutdown': return reply(id, null);
    case 'exit': return process.exit(0);
    default:
      if (id !== undefined) fail(id, CODES.methodNotFound, `method not found: ${JSON.stringify(method)}`);
      return undefined;
  }
}

const decoder = new FrameDecoder();

function receive(chunk) {
  let messages;
  try {
    messages = decoder.feed(chunk);
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    fail(null, CODES.parse, `parse error: ${err.message}`);
    process.exit(1);
  }
  for (const message of messages) dispatch(message);
}

let idle;
try {
  idle = new IdleSpin(process.env.ATOMITON_WORKER_SPIN_US);
} catch (err) {
  process.stderr.write(`atomiton Node.js worker: ${err.message}\n`);
  process.exit(2);
}
// Answered, and no call is waiting on a promise: poll for the next request a moment before
// going back to the event loop, so that back-to-back calls find this worker awake.
function awaitNext() {
  for (let next; current === null && (next = idle.read(0)) !== null;) {
    if (next.length === 0) process.exit(0); // end of input, as 'end' below
    receive(next);
  }
}

process.stdin.on('data', (chunk) => {
  receive(chunk);
  awaitNext();
});
process.stdin.on('end', () => process.exit(0));
