// Kernel tests need root and real tools. Missing ones skip the suite with a visible reason
// locally, and fail it loudly under CI=true (a CI that silently skips proves nothing).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export function missingRequirements(extra: { tools?: string[]; files?: string[] } = {}): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (network namespaces)');
  for (const tool of ['ip', 'nsenter', 'cc', ...(extra.tools ?? [])]) {
    try {
      execFileSync('sh', ['-c', 'command -v "$1"', 'sh', tool], { stdio: 'ignore' });
    } catch {
      missing.push(`the '${tool}' command`);
    }
  }
  for (const f of extra.files ?? []) if (!existsSync(f)) missing.push(f);
  return missing;
}

/** Returns true when the suite can run; throws under CI when it cannot. */
export function requireKernel(suite: string, extra?: { tools?: string[]; files?: string[] }): boolean {
  const missing = missingRequirements(extra);
  if (!missing.length) return true;
  const msg = `${suite}: needs ${missing.join(', ')}`;
  if (process.env.CI === 'true') throw new Error(`${msg} (CI=true: refusing to skip; install it, see cni/README.md)`);
  console.warn(`SKIPPED ${msg}`);
  return false;
}
