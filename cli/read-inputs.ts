// Files and folders named on the command line -> source texts. Folders are walked for
// .yaml/.yml/.json files in sorted order so output never depends on the file system's order.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { diagnostic, type Diagnostic } from '../compiler/diagnostics/diagnostic.js';
import { limits } from '../compiler/syntax/documents.js';
import type { SourceFile } from '../compiler/syntax/source.js';

const INPUT_EXTENSIONS = /\.(ya?ml|json)$/i;

export interface ReadResult {
  files: SourceFile[];
  diagnostics: Diagnostic[];
}

export function readInputs(paths: readonly string[], cwd: string): ReadResult {
  const files: SourceFile[] = [];
  const diagnostics: Diagnostic[] = [];
  const seen = new Set<string>();
  const add = (absolute: string) => {
    if (seen.has(absolute)) return;
    seen.add(absolute);
    const name = displayName(absolute, cwd);
    try {
      const size = statSync(absolute).size;
      if (size > limits.maxFileChars) {
        diagnostics.push(diagnostic('PC1002', `${name} is ${size} bytes; the limit is ${limits.maxFileChars}`, { file: name, start: 0, end: 0 }));
        return;
      }
      files.push({ name, text: readFileSync(absolute, 'utf8') });
    } catch (err) {
      diagnostics.push(diagnostic('PC1005', `cannot read ${name}: ${(err as Error).message}`, { file: name, start: 0, end: 0 }));
    }
  };
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.name.startsWith('.')) continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && INPUT_EXTENSIONS.test(entry.name)) add(full);
    }
  };
  for (const p of paths) {
    const absolute = resolve(cwd, p);
    try {
      if (statSync(absolute).isDirectory()) walk(absolute);
      else add(absolute);
    } catch (err) {
      diagnostics.push(diagnostic('PC1005', `cannot read ${p}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`));
    }
  }
  return { files, diagnostics };
}

function displayName(absolute: string, cwd: string): string {
  const rel = relative(cwd, absolute);
  return rel.startsWith('..') ? absolute : rel;
}
