// Inline JavaScript for Atomiton's transform functions, loop conditions and `{{ }}` expressions,
// run in a `vm` context: no require, no process, no eval/new Function, and a time limit.
//
// Values cross into the context as JSON text and are parsed there, and the result comes back as
// JSON text, so no host object (whose constructor would lead back to the host's Function and
// `process`) is ever reachable from user code.
//
// mode "function":   `source` evaluates to a function, called with `args`
//                    (`item => item.x * 2`, `item => { return item.x * 2; }`, `function (a) {...}`)
// mode "expression": `source` is an expression evaluated with `bindings` as globals (`iteration < 5`)

import vm from 'node:vm';

const MAX_SCRIPTS = 512;
const BIND = new vm.Script('Object.assign(globalThis, JSON.parse(globalThis.__atomitonBindings))');
const UNBIND = new vm.Script('for (const k of Object.keys(JSON.parse(globalThis.__atomitonBindings))) delete globalThis[k]');
const scripts = new Map();
let context = null;

export class EvaluateError extends Error {
  constructor(name, message) {
    super(message);
    this.name = name;
  }
}

function sandbox() {
  context ??= vm.createContext(Object.create(null), {
    name: 'atomiton-evaluate',
    codeGeneration: { strings: false, wasm: false },
  });
  return context;
}

function compiled(source, mode) {
  const key = `${mode}\0${source}`;
  let script = scripts.get(key);
  if (!script) {
    const body = mode === 'function'
      ? `JSON.stringify([(${source}\n)(...JSON.parse(globalThis.__atomitonArgs))])`
      : `JSON.stringify([(${source}\n)])`;
    try {
      script = new vm.Script(body, { filename: `evaluate:${mode}` });
    } catch (err) {
      throw new EvaluateError('SyntaxError', `${err.message} in ${mode} ${JSON.stringify(source.slice(0, 200))}`);
    }
    if (scripts.size >= MAX_SCRIPTS) scripts.delete(scripts.keys().next().value);
    scripts.set(key, script);
  }
  return script;
}

/** Evaluate `source` and return its JSON value (undefined becomes null). */
export function evaluate({ source, mode = 'function', args = [], bindings = {}, timeoutMs = 1000 }) {
  if (typeof source !== 'string') throw new EvaluateError('TypeError', 'evaluate needs "source" as a string');
  if (mode !== 'function' && mode !== 'expression') throw new EvaluateError('TypeError', `mode must be "function" or "expression", got ${JSON.stringify(mode)}`);
  const script = compiled(source, mode);
  const ctx = sandbox();
  const names = Object.keys(bindings ?? {});
  ctx.__atomitonArgs = JSON.stringify(args ?? []);
  if (names.length) {
    ctx.__atomitonBindings = JSON.stringify(bindings);
    BIND.runInContext(ctx);
  }
  try {
    const text = script.runInContext(ctx, { timeout: Math.max(1, Math.round(timeoutMs)), breakOnSigint: false });
    return text === undefined ? null : (JSON.parse(text)[0] ?? null);
  } catch (err) {
    if (err?.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
      throw new EvaluateError('TimeoutError', `${mode} ran past its time limit of ${timeoutMs} ms: ${source.slice(0, 200)}`);
    }
    throw err;
  } finally {
    if (names.length) UNBIND.runInContext(ctx);
    delete ctx.__atomitonArgs;
    delete ctx.__atomitonBindings;
  }
}
