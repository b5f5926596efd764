// The lab's record of what it created, in <lab root>/<name>/lab.json (written by rename), plus
// an append-only `pids` file that gets each started process's PID the moment it exists, so a
// crash between a spawn and the next state write still leaves the PID for `lab down`.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../daemon/atomic-file.js';
import { labDir } from './names.js';
import type { LabObjects, PodPorts } from './objects.js';
import type { Delivery } from './policy-delivery.js';

export interface LabNode {
  name: string;
  /** 1-based */
  index: number;
  netns: string;
  underlayIp: string;
  /** the node's IPv4 pod CIDR; absent in an IPv6-only lab */
  podCidr?: string;
  /** labs with IPv6: the node's IPv6 pod CIDR (a /64 unless the snapshot says otherwise) */
  podCidr6?: string;
  /** the node daemon */
  socket: string;
  stateDir: string;
  spoolDir: string;
  /** the network configuration list a runtime would read */
  conflist: string;
  pid?: number;
}

export interface LabPod {
  namespace: string;
  name: string;
  node: string;
  /** the pod's IPv4 address; absent when the snapshot gives it only an IPv6 one */
  ip?: string;
  /** the pod's IPv6 address; absent when the snapshot gives it only an IPv4 one */
  ip6?: string;
  netns: string;
  containerId: string;
  generation: number;
  ports: PodPorts;
  /** the pod's server process */
  serverPid?: number;
}

export interface LabState {
  version: 1;
  name: string;
  dir: string;
  createdAt: string;
  underlayNetns: string;
  nodes: LabNode[];
  /** by namespace/name */
  pods: Record<string, LabPod>;
  objects: LabObjects;
  /** bumps on every pod (re)creation: container ids stay unique */
  generation: number;
  /** how policies reach the nodes (fixed at up: the daemons' flags depend on it) */
  delivery?: Delivery;
}

export const statePath = (lab: string): string => join(labDir(lab), 'lab.json');
const pidsPath = (lab: string): string => join(labDir(lab), 'pids');

export function labExists(lab: string): boolean {
  return existsSync(labDir(lab));
}

export function loadState(lab: string): LabState {
  const path = statePath(lab);
  if (!existsSync(path)) throw new Error(`no lab '${lab}' (no ${path}); start one with 'policyc lab up'`);
  return JSON.parse(readFileSync(path, 'utf8')) as LabState;
}

export function tryLoadState(lab: string): LabState | undefined {
  try {
    return loadState(lab);
  } catch {
    return undefined;
  }
}

export async function saveState(state: LabState): Promise<void> {
  await writeFileAtomic(statePath(state.name), `${JSON.stringify(state, null, 1)}\n`);
}

export function makeLabDir(lab: string): string {
  const dir = labDir(lab);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

export function recordPid(lab: string, pid: number, what: string): void {
  appendFileSync(pidsPath(lab), `${pid}\t${what}\n`);
}

export function recordedPids(lab: string): number[] {
  try {
    return readFileSync(pidsPath(lab), 'utf8')
      .split('\n')
      .map((l) => Number(l.split('\t')[0]))
      .filter((n) => Number.isInteger(n) && n > 1);
  } catch {
    return [];
  }
}

export function removeLabDir(lab: string): void {
  rmSync(labDir(lab), { recursive: true, force: true });
}

/** One writer per lab at a time (apply, delete, up, down): an O_EXCL lock file holding our PID. */
export async function withLabLock<T>(lab: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(labDir(lab), 'lock');
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`no lab '${lab}'`);
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(lock, 'utf8').trim() || '0');
      if (!holder || !existsSync(`/proc/${holder}`)) {
        rmSync(lock, { force: true }); // its holder died
        continue;
      }
      if (Date.now() > deadline) throw new Error(`lab '${lab}' is locked by process ${holder}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}
