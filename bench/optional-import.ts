// Imports a module of the compiler that may not exist yet (other engineers are writing it),
// so the bench builds and runs either way.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export async function optionalImport(relative: string): Promise<Record<string, unknown> | undefined> {
  const url = new URL(relative, import.meta.url);
  if (!existsSync(fileURLToPath(url))) return undefined;
  return (await import(url.href)) as Record<string, unknown>;
}
