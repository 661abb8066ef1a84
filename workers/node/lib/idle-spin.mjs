// Busy polling, the worker's leg (docs/worker-protocol.md, "Busy polling"): having answered, a
// worker polls its stdin for the next request for up to ATOMITON_WORKER_SPIN_US microseconds
// (default 100, 0 turns it off) before it goes back to sleep in the event loop. On a virtual
// machine a process that sleeps costs ~20 µs to wake from another vCPU; a worker still polling
// when the request lands pays none of it. The engine spins the same way for the answer.
//
// The spin cannot yield the CPU (Node.js has no sched_yield), so it backs off where it does not
// pay: a window that ends with no request, or with one that came only after the scheduler took
// the CPU from this worker (the sign of sharing a vCPU with the engine, which cannot send while
// the worker spins), doubles a back-off: the next 1, 3, 7 ... 255 waits skip the spin. A request
// that arrives during a spin takes one step off it (one there already changes nothing), and a wait
// more than 10 ms after the previous one starts afresh, so a burst of calls after a pause polls
// from its first call. The same rule as the Python worker's and the Go SDK's.

import { readSync } from 'node:fs';

export const DEFAULT_SPIN_US = 100;
// Where libuv leaves a stdin pipe non-blocking, so that a read with nothing to read returns
// EAGAIN at once; elsewhere the worker does not spin.
const POLLS_STDIN = new Set(['linux', 'darwin']);
const MAX_BACKOFF = 8; // at worst, one wait in 2 ** 8 spins
const FRESH_AFTER_NS = 10_000_000n; // a wait this long after the previous one starts afresh

/** The spin window in nanoseconds from the environment's text; throws a clear error. */
export function spinWindowNs(text) {
  const raw = String(text ?? '').trim();
  if (raw === '') return BigInt(DEFAULT_SPIN_US * 1000);
  const micros = Number(raw);
  if (!Number.isFinite(micros)) {
    throw new Error(`ATOMITON_WORKER_SPIN_US=${JSON.stringify(raw)} is not a number: set it to the microseconds a worker may spin waiting for a request (default ${DEFAULT_SPIN_US}, 0 turns it off)`);
  }
  return BigInt(Math.round(Math.max(0, micros) * 1000));
}

function preemptions() {
  return process.resourceUsage().involuntaryContextSwitches;
}

export class IdleSpin {
  #buffer = Buffer.allocUnsafe(1 << 16);

  /** `spinUs`: the environment's text (see spinWindowNs). */
  constructor(spinUs, platform = process.platform) {
    const windowNs = spinWindowNs(spinUs); // checked everywhere, so a typo fails everywhere
    this.windowNs = POLLS_STDIN.has(platform) ? windowNs : 0n;
    this.skip = 0; // waits left to go without spinning (the back-off)
    this.misses = 0; // windows that did not pay, less those that did (0 to MAX_BACKOFF)
    this.last = 0n; // when the previous wait began
  }

  /**
   * What arrived on `fd` (non-blocking, as libuv leaves a pipe) within the window: a new
   * Buffer, an empty one at the end of input, or null when nothing came (or no spin was due).
   */
  read(fd) {
    if (this.windowNs === 0n) return null;
    const now = process.hrtime.bigint();
    if (now - this.last > FRESH_AFTER_NS) this.misses = this.skip = 0;
    this.last = now;
    if (this.skip > 0) {
      this.skip -= 1;
      return null;
    }
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0; // each empty poll throws EAGAIN: 3.7 µs with a stack, 2.2 without
    try {
      let n = this.#poll(fd);
      if (n !== null) return this.#copy(n); // there already: this says nothing about spinning
      const preempted = preemptions();
      const end = process.hrtime.bigint() + this.windowNs;
      while (process.hrtime.bigint() < end) {
        n = this.#poll(fd);
        if (n === null) continue;
        if (preemptions() === preempted) this.misses = Math.max(0, this.misses - 1);
        else this.#backOff();
        return this.#copy(n);
      }
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    this.#backOff();
    return null;
  }

  /** Bytes read from `fd` into the buffer (0 at the end of input), or null when none wait. */
  #poll(fd) {
    try {
      return readSync(fd, this.#buffer, 0, this.#buffer.length, null);
    } catch (err) {
      if (err.code === 'EAGAIN') return null;
      throw err;
    }
  }

  #copy(n) {
    return Buffer.from(this.#buffer.subarray(0, n));
  }

  #backOff() {
    this.misses = Math.min(this.misses + 1, MAX_BACKOFF);
    this.skip = 2 ** this.misses - 1;
  }
}
