// Where the built C programs are: cni/bin/ of the checkout, found by walking up from this
// module so it works from the sources (tsx, vitest) and from dist/ alike.
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function locateCniBinary(name: 'policyc-cni' | 'policyc-wire'): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'cni', 'bin', name);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {}
    dir = dirname(dir);
  }
  return undefined;
}
