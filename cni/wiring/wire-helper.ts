// Client of policyc-wire (cni/plugin/policyc-wire.c), the netlink worker the daemon starts
// once and keeps: one line per wiring step, answered in order, no process start per ADD.
// If it dies (it exits when our end of its stdin closes, e.g. kill -9 of the daemon), the
// steps in flight fail and the next step starts a new one.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Allocation } from '../ipam/pod-ipam.js';
import type { NetnsTarget } from './netns.js';

export class WireHelperError extends Error {
  constructor(
    /** 'create': nothing was made; 'config': the veth pair exists */
    readonly stage: 'create' | 'config',
    message: string,
  ) {
    super(message);
  }
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class WireHelper {
  private proc?: ChildProcess;
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 1;

  constructor(
    private readonly binary: string,
    private readonly log: (msg: string) => void,
  ) {}

  host(host: NetnsTarget, podNetns: string, hostVeth: string, ifname: string, mtu: number, hostMac: string, podMac: string, allocs: Allocation[]): Promise<void> {
    return this.step(['HOST', nsPath(host), podNetns, hostVeth, ifname, String(mtu), hostMac, podMac, allocField(allocs)]);
  }

  pod(podNetns: string, ifname: string, allocs: Allocation[]): Promise<void> {
    return this.step(['POD', podNetns, ifname, allocField(allocs)]);
  }

  deleteLink(host: NetnsTarget, name: string): Promise<void> {
    return this.step(['DEL', nsPath(host), name]);
  }

  async close(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.stdin?.end();
    await exited;
  }

  private step(fields: string[]): Promise<void> {
    if (fields.some((f) => /[\t\n]/.test(f))) return Promise.reject(new WireHelperError('create', 'argument with a tab or newline'));
    const proc = this.ensureRunning();
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      proc.stdin!.write(`${id}\t${fields.join('\t')}\n`);
    });
  }

  private ensureRunning(): ChildProcess {
    if (this.proc && this.proc.exitCode === null && !this.proc.killed) return this.proc;
    const proc = spawn(this.binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stdin!.on('error', () => {});
    proc.stderr!.on('data', (d: Buffer) => this.log(`policyc-wire: ${d.toString().trim()}`));
    createInterface({ input: proc.stdout! }).on('line', (line) => this.onReply(line));
    const fail = (why: string) => {
      if (this.proc === proc) this.proc = undefined;
      for (const [, w] of this.waiting) w.reject(new WireHelperError('config', `policyc-wire ${why}`));
      this.waiting.clear();
    };
    proc.on('error', (err) => fail(`could not run: ${err.message}`));
    proc.on('exit', (code, signal) => fail(`exited (${signal ?? code})`));
    return proc;
  }

  private onReply(line: string): void {
    const [id, status, stage, message] = line.split('\t');
    const w = this.waiting.get(Number(id));
    if (!w) return;
    this.waiting.delete(Number(id));
    if (status === 'OK') w.resolve();
    else w.reject(new WireHelperError(stage === 'create' ? 'create' : 'config', message ?? 'failed'));
  }
}

function nsPath(t: NetnsTarget): string {
  return t.kind === 'current' ? '-' : t.kind === 'named' ? `/run/netns/${t.name}` : t.path;
}

function allocField(allocs: Allocation[]): string {
  return allocs.map((a) => `${a.family}/${a.address}/${a.gateway}`).join(',');
}
