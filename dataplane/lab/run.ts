// Child processes with argument arrays (never a shell), optional stdin and environment.
import { spawn } from 'node:child_process';

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

export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env, cwd: options.cwd });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ ok: code === 0, code: code ?? 1, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
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
