// Starts a worker thread on one of our modules, from dist/ (the .js next to the caller) or from
// the TypeScript sources (vitest, tsx). A thread does not inherit vitest's transform, and Node
// 20 runs `--import tsx` in a worker only after the entry was resolved (ERR_UNKNOWN_FILE_EXTENSION
// for .ts), so from sources the thread starts on a two-line bootstrap that registers tsx's
// loader first and then imports the entry.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/** `name` without extension, resolved next to `callerUrl` (its import.meta.url) with the caller's own extension. */
export function siblingModule(callerUrl: string, name: string): URL {
  return new URL(`./${name}${callerUrl.endsWith('.ts') ? '.ts' : '.js'}`, callerUrl);
}

export function startThread(entry: URL): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry);
  const api = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href;
  const code = `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(code, { eval: true });
}
