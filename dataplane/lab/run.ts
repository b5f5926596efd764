// Child processes with argument arrays (never a shell), optional stdin and environment.
import { runProcess } from '../process.js';

export interface RunResult {
  ok: boolean;
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  cwd?: string;
}

export async function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const r = await runProcess(file, args, options);
  return { ok: r.code === 0, code: r.code ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs and throws with stderr when the command fails. */
export async function must(file: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const r = await run(file, args, options);
  if (!r.ok) throw new Error(`${file} ${args.join(' ')}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** `ip -n NS -batch -`: many changes in one namespace, one process. */
export async function ipBatch(netns: string, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  await must('ip', ['-n', netns, '-batch', '-'], { input: `${lines.join('\n')}\n` });
}

/** Sets sysctls inside a namespace (never the root namespace: the netns is required). */
export async function sysctlIn(netns: string, settings: Readonly<Record<string, string>>): Promise<void> {
  if (!netns) throw new Error('sysctlIn needs a network namespace');
  await must('ip', ['netns', 'exec', netns, 'sysctl', '-q', '-w', ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)]);
}
