// Throwaway network namespaces with unique names (pcni-<random>-<tag>), removed by
// cleanupNetns() in afterEach even when a test failed half-way.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const created = new Set<string>();
export const RUN_ID = randomBytes(3).toString('hex');
// A counter, not more random bytes: 100 concurrent namespaces with 2 random bytes collided ~7% of the time.
let sequence = 0;

export async function createNetns(tag: string): Promise<string> {
  const name = `pcni-${RUN_ID}-${tag}-${(++sequence).toString(36)}`;
  created.add(name);
  await exec('ip', ['netns', 'add', name]);
  await exec('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

export async function deleteNetns(name: string): Promise<void> {
  created.delete(name);
  await exec('ip', ['netns', 'del', name]).catch(() => {});
}

export async function cleanupNetns(): Promise<void> {
  await Promise.all([...created].map(deleteNetns));
}

export const netnsPath = (name: string) => `/run/netns/${name}`;

/** `ip -j -n ns <args>` parsed. */
export async function ipJ<T = unknown>(ns: string, args: string[]): Promise<T> {
  const { stdout } = await exec('ip', ['-j', '-n', ns, ...args]);
  return JSON.parse(stdout || '[]') as T;
}

export async function linkNames(ns: string): Promise<string[]> {
  return (await ipJ<{ ifname: string }[]>(ns, ['link', 'show'])).map((l) => l.ifname);
}

export async function sh(cmd: string, args: string[]): Promise<string> {
  return (await exec(cmd, args)).stdout;
}
