// One way to run a child process for the dataplane: argument arrays (never a shell), optional
// stdin, environment and working directory, killed by its PID after a timeout; stdout and
// stderr collected as text. nft/loader.ts and lab/run.ts adapt it to their result types.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export interface ProcessOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

export interface ProcessResult {
  /** null when the process was killed by a signal (the timeout) */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Rejects only when the process cannot be started (ENOENT, ...). */
export function runProcess(file: string, args: readonly string[], options: ProcessOptions = {}): Promise<ProcessResult> {
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
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/**
 * Stops a long-lived helper (the libnftables and conntrack helpers): closes its stdin (it exits
 * at end of input), optionally signals it, and kills it by its PID if it is still running after
 * `graceMs`. Resolves when it has exited.
 */
export function stopChild(child: ChildProcessWithoutNullStreams, options: { signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const pid = child.pid;
  return new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.stdin.end();
    if (options.signal) {
      try {
        process.kill(pid, options.signal);
      } catch {
        return resolve(); // already gone
      }
    }
    setTimeout(() => {
      try {
        if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
      } catch {}
    }, options.graceMs ?? 2000).unref();
  });
}
