// Loads node modules by absolute path: ES modules as they are, TypeScript through ts-hooks.mjs.
// A module is re-imported when its file changes (the import URL carries its mtime).

import { register } from 'node:module';
import { statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export class HandlerError extends Error {
  constructor(message) {
    super(message);
    this.name = 'HandlerError';
  }
}

let registered = false;

export function registerTypeScript(cacheDir) {
  if (registered) return;
  register('./ts-hooks.mjs', import.meta.url, { data: { cacheDir } });
  registered = true;
}

const modules = new Map(); // path -> { mtime, module }

/** The handler when its module is already imported and unchanged, else null (no await). */
export function cachedHandler(path, handler) {
  const entry = modules.get(path);
  if (!entry || typeof entry.module[handler] !== 'function') return null;
  try {
    return statSync(path).mtimeMs === entry.mtime ? entry.module[handler] : null;
  } catch {
    return null; // loadHandler reports the missing file
  }
}

export async function loadHandler(path, handler) {
  if (!path || !handler) throw new HandlerError(`execute needs a module and a handler, got module=${JSON.stringify(path)} handler=${JSON.stringify(handler)}`);
  let mtime;
  try {
    mtime = statSync(path).mtimeMs;
  } catch {
    throw new HandlerError(`node module ${path} does not exist`);
  }
  let entry = modules.get(path);
  if (!entry || entry.mtime !== mtime) {
    entry = { mtime, module: await import(`${pathToFileURL(path).href}?mtime=${mtime}`) };
    modules.set(path, entry);
  }
  const fn = entry.module[handler];
  if (typeof fn !== 'function') {
    const exported = Object.keys(entry.module).filter((key) => typeof entry.module[key] === 'function');
    throw new HandlerError(`module ${path} exports no function ${JSON.stringify(handler)}; it exports: ${exported.join(', ') || '(no functions)'}`);
  }
  return fn;
}
