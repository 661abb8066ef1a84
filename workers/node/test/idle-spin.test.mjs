import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
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

// A request that arrives while the worker spins: another process writes it in 50 ms.
function writeSoon(data) {
  spawn('sh', ['-c', `sleep 0.05; printf ${data}`], { stdio: ['ignore', write, 'ignore'] });
}

test('a request that arrives ends the spin', () => {
  const spin = new IdleSpin('10000000'); // 10 s
  writeSoon('request');
  const start = process.hrtime.bigint();
  assert.equal(spin.read(read).toString(), 'request');
  assert.ok(process.hrtime.bigint() - start < 5_000_000_000n, 'the spin outlasted the request');
});

test('windows that catch nothing back off to one spin in 256', () => {
  const spin = new IdleSpin('1000');
  const seen = [];
  for (let i = 0; i < 9; i++) {
    assert.equal(spin.read(read), null); // a window with no request: a miss
    seen.push([spin.misses, spin.skip]);
    while (spin.skip > 0) assert.equal(spin.read(read), null); // skipped, no spin
  }
  const doubling = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => [n, 2 ** n - 1]);
  assert.deepEqual(seen, [...doubling, [8, 255]]);
});

test('a wait long after the last starts afresh', () => {
  const spin = new IdleSpin('1000');
  [spin.misses, spin.skip] = [8, 200];
  spin.last = process.hrtime.bigint() - 1_000_000_000n; // a second ago
  assert.equal(spin.read(read), null); // spins (a miss: nothing comes), instead of skipping
  assert.deepEqual([spin.misses, spin.skip], [1, 1]);
});

test('a request that arrives during a spin takes one step off the back-off', (t) => {
  t.mock.method(process, 'resourceUsage', () => ({ involuntaryContextSwitches: 0 })); // kept its CPU
  const spin = new IdleSpin('10000000');
  [spin.misses, spin.last] = [3, process.hrtime.bigint()]; // mid-burst, backing off
  writeSoon('request');
  assert.equal(spin.read(read).toString(), 'request');
  assert.deepEqual([spin.misses, spin.skip], [2, 0]);
});

test('a request that was there already changes nothing', () => {
  const spin = new IdleSpin('10000000');
  [spin.misses, spin.last] = [3, process.hrtime.bigint()]; // mid-burst, backing off
  writeSync(write, 'request');
  assert.equal(spin.read(read).toString(), 'request');
  assert.deepEqual([spin.misses, spin.skip], [3, 0]);
});

test('a request that came only after a preemption counts as a miss', (t) => {
  let switches = 0;
  t.mock.method(process, 'resourceUsage', () => ({ involuntaryContextSwitches: switches++ }));
  const spin = new IdleSpin('10000000');
  writeSoon('request');
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

test('only where a stdin pipe reads without blocking', () => {
  assert.equal(new IdleSpin('100', 'linux').windowNs, 100_000n);
  assert.equal(new IdleSpin('100', 'win32').windowNs, 0n);
  assert.throws(() => new IdleSpin('fast', 'win32'), /is not a number/);
});
