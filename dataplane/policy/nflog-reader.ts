// The NFLOG drop-sample reader: a DropSampleSource that runs nflog/policyc-nflog (raw
// NETLINK_NETFILTER, one JSON line per sample) inside the node netns and turns its lines into
// DropSamples (prefix -> rule id/cookie with parseDropPrefix, payload -> addresses and ports with
// decodeHeaders). NFLOG groups are per network namespace, so the helper runs where the table is:
// `nsenter --net=/run/netns/NAME` (or a netns path) as nft-exec.ts does, argument arrays only,
// or directly when the daemon's own netns is the node's. The helper ends with the daemon
// (PR_SET_PDEATHSIG) and is stopped by its PID; if it dies it is restarted with a backoff.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { decodeHeaders, parseDropPrefix, type DropSample, type DropSampleSource } from './nflog.js';
import { describeNetns, locateNative, netnsArgv, netnsTarget, type NetnsTarget } from './nft-exec.js';

/** dataplane/policy/nflog/bin/policyc-nflog (POLICYC_NFLOG_HELPER overrides). */
export function locateNflogHelper(): string | undefined {
  return locateNative('POLICYC_NFLOG_HELPER', 'nflog', 'policyc-nflog');
}

export type NflogLine = { kind: 'ready'; group: number } | { kind: 'sample'; sample: DropSample } | { kind: 'ignored'; reason: string };

/** One stdout line of policyc-nflog. Samples whose prefix is not ours (another ruleset logging to the group) are ignored. */
export function parseNflogLine(line: string, at = new Date()): NflogLine {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { kind: 'ignored', reason: `not JSON: ${line.slice(0, 80)}` };
  }
  if (!o || typeof o !== 'object') return { kind: 'ignored', reason: 'not an object' };
  if (o.ready === true) return { kind: 'ready', group: Number(o.group) };
  if (typeof o.prefix !== 'string') return { kind: 'ignored', reason: 'no prefix' };
  const sample = parseDropPrefix(o.prefix, at);
  if (!sample) return { kind: 'ignored', reason: `foreign prefix ${JSON.stringify(o.prefix)}` };
  if (typeof o.payload === 'string' && /^(?:[0-9a-f]{2})*$/i.test(o.payload) && o.payload.length > 0) {
    sample.payload = Buffer.from(o.payload, 'hex');
    Object.assign(sample, decodeHeaders(sample.payload));
  }
  if (!sample.family && (o.family === 2 || o.family === 10)) sample.family = o.family === 2 ? 4 : 6;
  if (typeof o.indev === 'number' && o.indev > 0) sample.indev = o.indev;
  if (typeof o.outdev === 'number' && o.outdev > 0) sample.outdev = o.outdev;
  return { kind: 'sample', sample };
}

export interface NflogReaderOptions {
  /** the node netns (name or path, as EngineOptions.netns); unset = the daemon's own */
  netns?: string;
  /** NFLOG group of the ruleset (NftOptions.logGroup). Default 1. */
  group?: number;
  /** bytes of each packet copied (from the network header). Default 128. */
  copyRange?: number;
  /** path of policyc-nflog; default locateNflogHelper() */
  helper?: string;
  log?: (msg: string) => void;
  /** how long start() waits for the helper to bind the group. Default 5000 ms. */
  readyTimeoutMs?: number;
}

const MAX_BACKOFF_MS = 30_000;

export class NflogReader implements DropSampleSource {
  private readonly target: NetnsTarget;
  private readonly helper?: string;
  private child?: ChildProcessByStdio<null, Readable, Readable>;
  private stopped = false;
  private restartTimer?: NodeJS.Timeout;
  private backoffMs = 1000;
  /** 'running' once the helper bound the group; 'failed' while it is down */
  state: 'idle' | 'starting' | 'running' | 'failed' | 'stopped' = 'idle';
  lastError?: string;
  samples = 0;

  constructor(private readonly o: NflogReaderOptions = {}) {
    this.target = netnsTarget(o.netns);
    this.helper = o.helper ?? locateNflogHelper();
  }

  private log(msg: string): void {
    this.o.log?.(`nflog: ${msg}`);
  }

  /** the helper's argv, inside the target netns */
  private argv(): [string, string[]] {
    // the helper sets PR_SET_PDEATHSIG itself (nsenter --net execs it: we stay its parent)
    return netnsArgv(this.target, [this.helper!, String(this.o.group ?? 1), String(this.o.copyRange ?? 128)], false);
  }

  /** PID of the running helper (undefined while none runs) */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Resolves once the helper bound the group, or after its first failure or the ready timeout (logged; retried in the background). */
  async start(onSample: (sample: DropSample) => void): Promise<{ stop(): Promise<void> }> {
    if (!this.helper) throw new Error('policyc-nflog is not built (bash dataplane/policy/nflog/build.sh)');
    this.stopped = false;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.log(`policyc-nflog did not bind group ${this.o.group ?? 1} in ${describeNetns(this.target)} within ${this.o.readyTimeoutMs ?? 5000} ms; still waiting`);
        resolve();
      }, this.o.readyTimeoutMs ?? 5000);
      timer.unref();
      this.spawn(onSample, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return { stop: () => this.stop() };
  }

  private spawn(onSample: (sample: DropSample) => void, settled: () => void = () => undefined): void {
    const [file, args] = this.argv();
    this.state = 'starting';
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let pending = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      pending += d;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (!line) continue;
        const parsed = parseNflogLine(line);
        if (parsed.kind === 'ready') {
          this.state = 'running';
          this.backoffMs = 1000;
          this.log(`reading NFLOG group ${parsed.group} in ${describeNetns(this.target)}`);
          settled();
        } else if (parsed.kind === 'sample') {
          this.samples++;
          onSample(parsed.sample);
        }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    let gone = false;
    const exited = (why: string) => {
      if (gone) return;
      gone = true;
      if (this.child === child) this.child = undefined;
      if (this.stopped) {
        this.state = 'stopped';
        return;
      }
      this.state = 'failed';
      this.lastError = `policyc-nflog ${why}${stderr ? `: ${stderr.trim()}` : ''}`;
      this.log(`${this.lastError}; restarting in ${this.backoffMs / 1000} s`);
      settled();
      this.restartTimer = setTimeout(() => this.spawn(onSample), this.backoffMs);
      this.restartTimer.unref();
      this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    };
    child.on('error', (err) => exited(`failed to start (${err.message})`));
    child.on('close', (code, signal) => exited(`exited (${signal ?? code})`));
  }

  /** Stops the helper by its PID (SIGTERM, SIGKILL after 2 s) and cancels any restart. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
      this.state = 'stopped';
      return;
    }
    const pid = child.pid;
    await new Promise<void>((resolve) => {
      child.once('close', () => resolve());
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        resolve();
        return;
      }
      setTimeout(() => {
        try {
          if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
        } catch {}
      }, 2000).unref();
    });
    this.state = 'stopped';
  }
}

/** The reader the daemon uses: undefined when disabled or when the helper is not built (logged). */
export function daemonDropSamples(enabled: boolean | undefined, netns: string | undefined, log: (msg: string) => void): NflogReader | undefined {
  if (enabled === false) return undefined;
  const helper = locateNflogHelper();
  if (!helper) {
    if (enabled) log('nflog: --drop-samples on, but policyc-nflog is not built (bash dataplane/policy/nflog/build.sh); no drop samples');
    return undefined;
  }
  return new NflogReader({ netns, helper, log });
}
