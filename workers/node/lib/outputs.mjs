// The one rule for a handler's return value (same as atomiton/runtimes/worker/outputs.py): an
// object whose keys are all declared output ports is the outputs; anything else is the value of
// the single output port ("output" when none is declared).

export function outputsFromReturn(value, ports) {
  const names = ports && ports.length ? ports : ['output'];
  const isPlainObject = value !== null && typeof value === 'object' && !Array.isArray(value);
  if (isPlainObject && Object.keys(value).every((key) => names.includes(key))) return value;
  if (names.length === 1) return { [names[0]]: value === undefined ? null : value };
  const got = isPlainObject ? `keys ${JSON.stringify(Object.keys(value).sort())}` : typeof value;
  const err = new Error(`the handler returned ${got}, but the node declares outputs ${JSON.stringify(names)}; return an object from output port name to value`);
  err.name = 'OutputError';
  throw err;
}
