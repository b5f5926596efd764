// The lab's C helper (lab-helper.c: pod servers, probes, conntrack flush), compiled with cc on
// first use into <lab root>/.bin/, named by a hash of its source so an edit rebuilds it. Also
// finds the repository's other pieces (the CNI plugin, the daemon's entry) from sources or dist/.
import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAB_ROOT, shortHash } from './names.js';
import { must } from './run.js';

const here = dirname(fileURLToPath(import.meta.url));
/** True when running the TypeScript sources (vitest, tsx), false from dist/. */
export const FROM_SOURCES = fileURLToPath(import.meta.url).endsWith('.ts');

/** The checkout's root: the first ancestor holding dataplane/lab/lab-helper.c. */
export function repoRoot(): string {
  let dir = here;
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'dataplane', 'lab', 'lab-helper.c'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`cannot find the policyc checkout above ${here} (dataplane/lab/lab-helper.c)`);
}

let built: Promise<string> | undefined;

export function ensureHelper(): Promise<string> {
  built ??= build().catch((err) => {
    built = undefined;
    throw err;
  });
  return built;
}

async function build(): Promise<string> {
  const source = join(repoRoot(), 'dataplane', 'lab', 'lab-helper.c');
  const bin = join(LAB_ROOT, '.bin', `policyc-lab-helper-${shortHash(readFileSync(source, 'utf8'), 10)}`);
  if (existsSync(bin)) return bin;
  await mkdir(dirname(bin), { recursive: true, mode: 0o700 });
  const tmp = `${bin}.tmp-${process.pid}`;
  await must(process.env.CC ?? 'cc', ['-O2', '-Wall', '-Wextra', '-std=gnu11', '-o', tmp, source]);
  renameSync(tmp, bin); // atomic: a concurrent run never execs half a binary
  return bin;
}

/** cni/bin/policyc-cni, built by cni/build.sh when missing or older than its source. */
export async function ensureCniPlugin(): Promise<string> {
  const root = repoRoot();
  const stale = ['policyc-cni', 'policyc-wire'].some((prog) => {
    const bin = join(root, 'cni', 'bin', prog);
    if (!existsSync(bin)) return true;
    const src = join(root, 'cni', 'plugin', `${prog}.c`);
    return existsSync(src) && statSync(bin).mtimeMs < statSync(src).mtimeMs;
  });
  if (stale) await must('bash', [join(root, 'cni', 'build.sh')], { timeoutMs: 120_000 });
  return join(root, 'cni', 'bin', 'policyc-cni');
}

/** How to start `policyc daemon`: bin/policyc.js from dist/, the sources through tsx otherwise. */
export function daemonCommand(args: readonly string[]): { file: string; args: string[]; cwd: string } {
  const root = repoRoot();
  if (FROM_SOURCES) return { file: process.execPath, args: ['--import', 'tsx', join(root, 'dataplane', 'lab', 'cli-entry.ts'), 'daemon', ...args], cwd: root };
  return { file: process.execPath, args: [join(root, 'bin', 'policyc.js'), 'daemon', ...args], cwd: root };
}
