import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { IdleSpin, spinWindowNs } from '../lib/idle-spin.mjs';

// A FIFO read without blocking, as libuv leaves the worker's stdin pipe: `write` is its other end.
let read;
let write;
beforeEach(() => {
  const fifo = join(mkdtempSync(join(tmpdir(), 'idle-spin-')), 'fifo');
  execFileSync('mkfifo', [fifo]);
  read = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  write = openSync(fifo, constants.O_WRONLY);
});
afterEach(() => {
  closeSync(read);
  if (write !== null) closeSync(write);
});

test('the window comes from ATOMITON_WORKER_SPIN_US, in microseconds', () => {
  assert.equal(spinWindowNs(undefined), 100_000n);
  assert.equal(spinWindowNs(' '), 100_000n);
  assert.equal(spinWindowNs('0'), 0n);
  assert.equal(spinWindowNs('250'), 250_000n);
  assert.equal(spinWindowNs('-5'), 0n);
  assert.throws(() => spinWindowNs('fast'), /ATOMITON_WORKER_SPIN_US="fast" is not a number.*0 turns it off/);
});

test('a request that is there is read at once, and ends the spin', () => {
  const spin = new IdleSpin('10000000'); // 10 s: a spin that missed the request would hang
  writeSync(write, 'request');
  assert.equal(spin.read(read).toString(), 'request');
  assert.deepEqual([spin.misses, spin.skip], [0, 0]);
});

test('windows that catch nothing back off to one spin in 64', () => {
  const spin = new IdleSpin('1000');
  const seen = [];
  for (let i = 0; i < 7; i++) {
    assert.equal(spin.read(read), null); // a window with no request: a miss
    seen.push([spin.misses, spin.skip]);
    while (spin.skip > 0) assert.equal(spin.read(read), null); // skipped, no spin
  }
  assert.deepEqual(seen, [[1, 1], [2, 3], [3, 7], [4, 15], [5, 31], [6, 63], [6, 63]]);
});

test('a caught request takes one step off the back-off', () => {
  const spin = new IdleSpin('10000000');
  spin.misses = 3;
  writeSync(write, 'request');
  assert.ok(spin.read(read));
  assert.deepEqual([spin.misses, spin.skip], [2, 0]);
});

test('a request that came only after a preemption counts as a miss', (t) => {
  let switches = 0;
  t.mock.method(process, 'resourceUsage', () => ({ involuntaryContextSwitches: switches++ }));
  const spin = new IdleSpin('10000000');
  writeSync(write, 'request');
  assert.equal(spin.read(read).toString(), 'request');
  assert.deepEqual([spin.misses, spin.skip], [1, 1]);
});

test('the end of input is an empty buffer', () => {
  closeSync(write);
  write = null;
  assert.equal(new IdleSpin('10000000').read(read).length, 0);
});

test('a zero window never reads', () => {
  writeSync(write, 'request');
  assert.equal(new IdleSpin('0').read(read), null);
});
