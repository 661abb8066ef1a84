// Module loader hooks (registered by loader.mjs): `.ts`/`.mts` files are turned into JavaScript
// by esbuild's transform API (types stripped, nothing type-checked), with an inline source map so
// stack traces name the original file and line. Output is cached on disk by content hash.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cacheDir = null;
let esbuild = null;
const TS = /\.(ts|mts)$/;

export async function initialize(data) {
  cacheDir = data?.cacheDir ?? null;
}

export async function load(url, context, nextLoad) {
  const plain = url.split('?')[0];
  if (!plain.startsWith('file:') || !TS.test(plain)) return nextLoad(url, context);
  const file = fileURLToPath(plain);
  const source = readFileSync(file, 'utf8');
  return { format: 'module', source: await compile(source, file), shortCircuit: true };
}

async function compile(source, file) {
  esbuild ??= await import('esbuild');
  const key = createHash('sha256').update(`${esbuild.version}\0${file}\0${source}`).digest('hex');
  const cached = cacheDir && join(cacheDir, `${key}.mjs`);
  if (cached) {
    try {
      return readFileSync(cached, 'utf8');
    } catch {
      // not cached yet
    }
  }
  const { code } = await esbuild.transform(source, {
    loader: 'ts',
    format: 'esm',
    target: 'node20',
    sourcemap: 'inline',
    sourcefile: file,
  });
  if (cached) {
    mkdirSync(cacheDir, { recursive: true });
    const temporary = `${cached}.${process.pid}.tmp`;
    writeFileSync(temporary, code);
    renameSync(temporary, cached);
  }
  return code;
}
