// Running `ip` inside a network namespace without entering it ourselves: named namespaces
// (/run/netns/<name>) via `ip -n`, any other path (/proc/<pid>/ns/net) via nsenter. The
// daemon never changes its own namespace, so one daemon can serve a lab of many "nodes".
import { spawn } from 'node:child_process';
import { basename } from 'node:path';

/** Where a command runs: the daemon's own netns, or a netns given by name or path. */
export type NetnsTarget = { kind: 'current' } | { kind: 'named'; name: string } | { kind: 'path'; path: string };

const NAMED = /^\/(?:var\/)?run\/netns\/[^/]+$/;

export function netnsTarget(nameOrPath: string | undefined): NetnsTarget {
  if (!nameOrPath) return { kind: 'current' };
  if (!nameOrPath.includes('/')) return { kind: 'named', name: nameOrPath };
  if (NAMED.test(nameOrPath)) return { kind: 'named', name: basename(nameOrPath) };
  return { kind: 'path', path: nameOrPath };
}

/** A path `ip link ... netns <x>` accepts (it takes names or paths). */
export function netnsArg(t: NetnsTarget): string {
  if (t.kind === 'named') return t.name;
  if (t.kind === 'path') return t.path;
  throw new Error('the current namespace has no name');
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runIp(target: NetnsTarget, args: string[], stdin?: string): Promise<RunResult> {
  const [cmd, argv] =
    target.kind === 'current'
      ? ['ip', args]
      : target.kind === 'named'
        ? ['ip', ['-n', target.name, ...args]]
        : ['nsenter', [`--net=${target.path}`, 'ip', ...args]];
  return run(cmd, argv, stdin);
}

/** `ip -batch -`: one exec for many changes; stops at the first failing line. */
export function ipBatch(target: NetnsTarget, lines: string[], force = false): Promise<RunResult> {
  return runIp(target, [...(force ? ['-force'] : []), '-batch', '-'], lines.join('\n') + '\n');
}

export async function ipJson<T>(target: NetnsTarget, args: string[]): Promise<T | undefined> {
  const r = await runIp(target, ['-j', ...args]);
  if (r.code !== 0 || !r.stdout.trim()) return undefined;
  return JSON.parse(r.stdout) as T;
}

/** The 1-based line `ip -batch` failed on ("Command failed -:3"), if it says. */
export function failedBatchLine(stderr: string): number | undefined {
  const m = stderr.match(/Command failed -:(\d+)/);
  return m ? Number(m[1]) : undefined;
}

function run(cmd: string, args: string[], stdin?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => resolve({ code: 127, stdout, stderr: `${cmd}: ${err.message}` }));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    if (stdin !== undefined) {
      child.stdin!.on('error', () => {});
      child.stdin!.end(stdin);
    }
  });
}
