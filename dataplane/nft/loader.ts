// Loads policyc's nftables JSON into the kernel: the only code that runs `nft`. Every call names
// a network namespace (`ip netns exec NS nft ...`); there is no way to target the caller's own
// namespace through this module except by naming it. A batch is written to a private temporary
// file and read with `nft -j -f FILE` (nft opens /dev/stdin, which fails on the socket Node
// gives a child as stdin), so one document is one transaction: applied whole or not at all.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NftDocument } from '../../compiler/emit/nftables/schema.js';
import type { MembershipDiff } from '../../compiler/emit/membership.js';
import { renderElementDiff, type NftOptions } from '../../compiler/emit/nftables/ruleset.js';
import { runProcess } from '../process.js';

export interface NftResult {
  readonly ok: boolean;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export class NftError extends Error {
  constructor(
    message: string,
    readonly result: NftResult,
  ) {
    super(message);
  }
}

const NETNS_RE = /^[A-Za-z0-9_.-]{1,64}$/;

function checkNetns(netns: string): void {
  if (!NETNS_RE.test(netns)) throw new Error(`invalid network namespace name ${JSON.stringify(netns)}`);
}

/** Runs a command with the given stdin; never through a shell. */
export async function run(file: string, args: readonly string[], input?: string, timeoutMs = 120_000): Promise<NftResult> {
  const r = await runProcess(file, args, { input, timeoutMs });
  return { ok: r.code === 0, ...r };
}

function nftInNetns(netns: string, args: readonly string[], input?: string): Promise<NftResult> {
  checkNetns(netns);
  return run('ip', ['netns', 'exec', netns, 'nft', ...args], input);
}

function text(json: NftDocument | string): string {
  return typeof json === 'string' ? json : JSON.stringify(json);
}

async function nftFile(netns: string, flags: readonly string[], json: NftDocument | string): Promise<NftResult> {
  const dir = await mkdtemp(join(tmpdir(), 'policyc-nft-'));
  try {
    const file = join(dir, 'batch.json');
    await writeFile(file, text(json), { mode: 0o600 });
    return await nftInNetns(netns, [...flags, '-j', '-f', file]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Applies one batch (a full replace from emitNftables, or element changes). Throws NftError on failure. */
export async function applyRuleset(netns: string, json: NftDocument | string): Promise<NftResult> {
  const r = await nftFile(netns, [], json);
  if (!r.ok) throw new NftError(`nft -j -f failed in ${netns}: ${r.stderr.trim()}`, r);
  return r;
}

/** `nft -c`: the kernel validates the whole batch and commits nothing. Resolves with the result, never throws on rejection. */
export function checkRuleset(netns: string, json: NftDocument | string): Promise<NftResult> {
  return nftFile(netns, ['-c'], json);
}

/** One batch of element deletes then adds. */
export function applyElementDiff(netns: string, diff: MembershipDiff, options: NftOptions = {}): Promise<NftResult> {
  return applyRuleset(netns, renderElementDiff(diff, options));
}

/** `nft -j list table inet NAME`, parsed. */
export async function listTable(netns: string, table = 'policyc'): Promise<{ nftables: Array<Record<string, unknown>> }> {
  const r = await nftInNetns(netns, ['-j', 'list', 'table', 'inet', table]);
  if (!r.ok) throw new NftError(`nft list table failed in ${netns}: ${r.stderr.trim()}`, r);
  return JSON.parse(r.stdout) as { nftables: Array<Record<string, unknown>> };
}

/** Elements of one map or set as nft lists them back (JSON values). */
export async function listElements(netns: string, name: string, table = 'policyc'): Promise<unknown[]> {
  const doc = await listTable(netns, table);
  for (const o of doc.nftables) {
    const m = (o.map ?? o.set) as { name?: string; elem?: unknown[] } | undefined;
    if (m && m.name === name) return m.elem ?? [];
  }
  throw new Error(`no map or set ${name} in table ${table}`);
}

/** Deletes the table if present (one batch: add then delete, so a missing table is no error). */
export function removeTable(netns: string, table = 'policyc'): Promise<NftResult> {
  return applyRuleset(netns, {
    nftables: [{ add: { table: { family: 'inet', name: table } } }, { delete: { table: { family: 'inet', name: table } } }],
  });
}

// ---- network namespaces (tests and the lab)

/** Whether this process can create namespaces and run nft in them (root, `ip`, `nft`). */
export async function kernelAvailable(): Promise<{ ok: boolean; reason?: string }> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return { ok: false, reason: 'not root' };
  for (const [file, args] of [
    ['ip', ['-V']],
    ['nft', ['--version']],
  ] as const) {
    try {
      const r = await run(file, args);
      if (!r.ok) return { ok: false, reason: `${file} failed: ${r.stderr.trim()}` };
    } catch (err) {
      return { ok: false, reason: `${file} not found (${(err as Error).message})` };
    }
  }
  return { ok: true };
}

export async function addNetns(name: string): Promise<void> {
  checkNetns(name);
  const r = await run('ip', ['netns', 'add', name]);
  if (!r.ok) throw new Error(`ip netns add ${name}: ${r.stderr.trim()}`);
}

export async function deleteNetns(name: string): Promise<void> {
  checkNetns(name);
  await run('ip', ['netns', 'del', name]);
}

/** A fresh namespace named `<prefix>-<random>`; `dispose` deletes it. */
export async function withNetns<T>(prefix: string, fn: (netns: string) => Promise<T>): Promise<T> {
  const name = `${prefix}-${process.pid.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  await addNetns(name);
  try {
    return await fn(name);
  } finally {
    await deleteNetns(name);
  }
}

/** execFile wrapper for callers that need argument arrays and a result (no shell). */
export function execArgs(file: string, args: readonly string[], timeoutMs = 60_000): Promise<NftResult> {
  return new Promise((resolve) => {
    execFile(file, [...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const raw: unknown = err ? (err as { code?: unknown }).code : 0;
      resolve({ ok: !err, code: typeof raw === 'number' ? raw : 1, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}
