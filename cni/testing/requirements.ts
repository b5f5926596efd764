// What the kernel tests of the CNI plugin and the lab need: root and real tools. The guard that
// skips locally and fails under CI=true is testkit/requirements.ts (guardSuite).
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
