// A TypeScript node: `handler(inputs, parameters, ctx)` returns an object of outputs.

interface Inputs {
  text: string;
}

interface Parameters {
  times?: number;
}

interface Context {
  progress(percent: number, message?: string): void;
  log(level: "debug" | "info" | "warning" | "error", message: string): void;
  signal: AbortSignal;
  artifactDir: string;
}

export function reverse(inputs: Inputs, parameters: Parameters, ctx: Context): { output: string; length: number } {
  const times: number = parameters.times ?? 1;
  let text: string = inputs.text;
  for (let i = 0; i < times; i++) {
    text = [...text].reverse().join("");
    ctx.progress(((i + 1) / times) * 100, `pass ${i + 1} of ${times}`);
  }
  ctx.log("info", `reversed ${text.length} characters ${times} time(s)`);
  return { output: text, length: text.length };
}
