// Processes the lab starts (node daemons, pod servers): detached, their PIDs recorded in the
// lab's state dir the moment they exist, stopped by PID only, and only after checking that the
// PID still runs a command line carrying the lab's marker (the lab dir or a lab netns path), so
// a reused PID is never signalled.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { netnsPrefix } from './names.js';
import { recordPid } from './state.js';

export interface DetachedSpec {
  lab: string;
  /** what it is, for the pids file: e.g. `daemon node-1` */
  what: string;
  file: string;
  args: string[];
  cwd?: string;
  logPath: string;
  /** resolve once the process is ready: 'stdout-ready' waits for a line "ready" on stdout */
  ready: 'stdout-ready' | (() => Promise<boolean>);
  timeoutMs?: number;
}

export async function spawnDetached(spec: DetachedSpec): Promise<number> {
  const log = openSync(spec.logPath, 'a');
  const viaStdout = spec.ready === 'stdout-ready';
  const child = spawn(spec.file, spec.args, { cwd: spec.cwd, detached: true, stdio: ['ignore', viaStdout ? 'pipe' : log, log] });
  closeSync(log);
  if (child.pid === undefined) {
    await new Promise((r) => child.once('error', r));
    throw new Error(`cannot start ${spec.file}`);
  }
  const pid = child.pid;
  recordPid(spec.lab, pid, spec.what);
  const timeoutMs = spec.timeoutMs ?? 30_000;
  try {
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const done = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => done(new Error(`${spec.what} not ready after ${timeoutMs} ms (log: ${spec.logPath})`)), timeoutMs);
      child.once('exit', (code, signal) => done(new Error(`${spec.what} exited (${signal ?? code}); log: ${spec.logPath}: ${tail(spec.logPath)}`)));
      if (viaStdout) {
        let out = '';
        child.stdout!.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          if (out.split('\n').includes('ready')) done();
        });
      } else {
        const poll = async () => {
          while (!settled) {
            if (await (spec.ready as () => Promise<boolean>)().catch(() => false)) return done();
            await new Promise((r) => setTimeout(r, 25));
          }
        };
        void poll();
      }
    });
  } catch (err) {
    await stopProcess(pid, '');
    throw err;
  }
  child.removeAllListeners('exit');
  child.stdout?.destroy();
  child.unref();
  return pid;
}

function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return '';
  }
}

function cmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // a zombie still answers kill 0; /proc/<pid>/stat's state says
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/**
 * SIGTERM, then SIGKILL after `graceMs`. `marker`: a string the process's command line must
 * contain (empty: the caller just started it). Returns whether a process was signalled.
 */
export async function stopProcess(pid: number, marker: string, graceMs = 3000): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return false;
  const cmd = cmdline(pid);
  if (cmd === undefined || (marker && !cmd.includes(marker))) return false;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
    const hard = Date.now() + 2000;
    while (alive(pid) && Date.now() < hard) await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** Markers that identify a process as this lab's: its state dir, or a path of one of its netns. */
export function labMarkers(lab: string, dir: string): string[] {
  return [`${dir}/`, `/run/netns/${netnsPrefix(lab)}`];
}

export function markerOf(pid: number, markers: readonly string[]): string | undefined {
  const cmd = cmdline(pid);
  return cmd === undefined ? undefined : markers.find((m) => cmd.includes(m));
}

/** Processes whose command line carries one of the lab's markers (after a crash lost the state). */
export function findLabProcesses(markers: readonly string[]): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    if (markerOf(pid, markers)) out.push(pid);
  }
  return out;
}
