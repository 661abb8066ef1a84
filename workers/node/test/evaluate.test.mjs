import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluate } from '../lib/evaluate.mjs';
import { outputsFromReturn } from '../lib/outputs.mjs';

test('arrow functions with expression and block bodies', () => {
  assert.equal(evaluate({ source: 'item => item.x * 2', args: [{ x: 21 }] }), 42);
  assert.equal(evaluate({ source: 'item => { return item.x * 2; }', args: [{ x: 21 }] }), 42);
  assert.deepEqual(evaluate({ source: 'function (xs) { return xs.map(x => x + 1); }', args: [[1, 2]] }), [2, 3]);
});

test('expressions see bindings as globals, and bindings do not leak to the next call', () => {
  assert.equal(evaluate({ source: 'iteration < 5', mode: 'expression', bindings: { iteration: 3 } }), true);
  assert.throws(() => evaluate({ source: 'iteration', mode: 'expression' }), /iteration is not defined/);
});

test('an infinite loop hits the time limit', () => {
  assert.throws(() => evaluate({ source: '() => { for (;;) {} }', timeoutMs: 50 }), { name: 'TimeoutError' });
});

test('no require, no process, no code generation from strings', () => {
  assert.throws(() => evaluate({ source: '() => process.pid' }), /process is not defined/);
  assert.throws(() => evaluate({ source: '() => require("fs")' }), /require is not defined/);
  assert.throws(() => evaluate({ source: '(a) => a.constructor.constructor("return process")()', args: [{}] }), { name: 'EvalError' });
});

test('return values map onto output ports', () => {
  assert.deepEqual(outputsFromReturn({ a: 1 }, ['a', 'b']), { a: 1 });
  assert.deepEqual(outputsFromReturn(5, []), { output: 5 });
  assert.deepEqual(outputsFromReturn({ x: 1 }, ['output']), { output: { x: 1 } });
  assert.throws(() => outputsFromReturn(5, ['a', 'b']), { name: 'OutputError' });
});
