// Busy polling, the worker's leg (docs/worker-protocol.md, "Busy polling"): having answered, a
// worker polls its stdin for the next request for up to ATOMITON_WORKER_SPIN_US microseconds
// (default 100, 0 turns it off) before it goes back to sleep in the event loop. On a virtual
// machine a process that sleeps costs ~20 µs to wake from another vCPU; a worker still polling
// when the request lands pays none of it. The engine spins the same way for the answer.
//
// The spin cannot yield the CPU (Node.js has no sched_yield), so it backs off where it does not
// pay: a window that ends with no request, or with one that came only after the scheduler took
// the CPU from this worker (the sign of sharing a vCPU with the engine, which cannot send while
// the worker spins), doubles a back-off: the next 1, 3, 7 ... 63 waits skip the spin. A request
// caught by a spin takes one step off it. The same rule as the Python worker's and the Go SDK's.

import { readSync } from 'node:fs';

export const DEFAULT_SPIN_US = 100;
const MAX_BACKOFF = 6;

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
  constructor(spinUs) {
    this.windowNs = spinWindowNs(spinUs);
    this.skip = 0; // waits left to go without spinning (the back-off)
    this.misses = 0;
  }

  /**
   * What arrived on `fd` (non-blocking, as libuv leaves a pipe) within the window: a new
   * Buffer, an empty one at the end of input, or null when nothing came (or no spin was due).
   */
  read(fd) {
    if (this.windowNs === 0n) return null;
    if (this.skip > 0) {
      this.skip -= 1;
      return null;
    }
    const preempted = preemptions();
    const end = process.hrtime.bigint() + this.windowNs;
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0; // each empty poll throws EAGAIN: 3.7 µs with a stack, 2.2 without
    try {
      do {
        let n;
        try {
          n = readSync(fd, this.#buffer, 0, this.#buffer.length, null);
        } catch (err) {
          if (err.code === 'EAGAIN') continue;
          throw err;
        }
        if (preemptions() === preempted) this.misses = Math.max(0, this.misses - 1);
        else this.#backOff();
        return Buffer.from(this.#buffer.subarray(0, n));
      } while (process.hrtime.bigint() < end);
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    this.#backOff();
    return null;
  }

  #backOff() {
    this.misses = Math.min(this.misses + 1, MAX_BACKOFF);
    this.skip = 2 ** this.misses - 1;
  }
}
