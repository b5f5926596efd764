// Writes an artifact so that a reader never sees a half-written one: every file goes to a
// temporary name and is renamed into place; manifest.json, which names the others' hashes,
// is renamed last.

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Artifact } from '../compiler/emit/artifact.js';

export function writeArtifact(dir: string, artifact: Artifact): string[] {
  mkdirSync(dir, { recursive: true });
  const names = [...artifact.files.keys()].filter((n) => n !== 'manifest.json').sort();
  names.push('manifest.json');
  for (const name of names) {
    const target = join(dir, name);
    const tmp = `${target}.tmp-${process.pid}`;
    writeFileSync(tmp, artifact.files.get(name)!, { mode: 0o644 });
    renameSync(tmp, target);
  }
  return names;
}
