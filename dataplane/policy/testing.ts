// Helpers for the policy engine's tests and the bench: artifacts compiled in memory, the
// kernel guard (root + ip + nft + nsenter), namespace listings normalized for comparison.
import { runBackends } from '../../compiler/emit/backends.js';
import { compileSources } from '../../compiler/compile.js';
import { buildArtifact } from '../../compiler/emit/artifact.js';
import { createHash } from 'node:crypto';
import { kernelAvailable, run } from '../nft/loader.js';
import { normalizeListing } from './kernel-model.js';
import { locateNftHelper } from './nft-exec.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventEmitter } from 'node:events';
import type { EndpointLike } from './cluster-state.js';

/** Compiles policy YAML (no snapshot: skeleton only) into artifact files. */
export function compileArtifact(policies: string, options: { snapshot?: string; table?: string } = {}): Record<string, string> {
  const files = [{ name: 'policies.yaml', text: policies }];
  if (options.snapshot) files.push({ name: 'snapshot.yaml', text: options.snapshot });
  const c = compileSources(files);
  if (!c.program) throw new Error(`compile failed: ${c.diagnostics.map((d) => `${d.code} ${d.message}`).join('; ')}`);
  const artifact = buildArtifact(c.program, c.sources, runBackends(c, { table: options.table ?? 'policyc' }).outputs, { withSnapshot: c.hasSnapshot, generator: 'policyc test' });
  return Object.fromEntries(artifact.files);
}

/** Replaces one file and re-seals the manifest (a consistent artifact with different content). */
export function resealed(files: Record<string, string>, name: string, text: string): Record<string, string> {
  const out = { ...files, [name]: text };
  const manifest = JSON.parse(out['manifest.json']);
  const names = Object.keys(manifest.files).sort();
  const whole = createHash('sha256');
  for (const n of names) {
    manifest.files[n] = createHash('sha256').update(out[n]).digest('hex');
    whole.update(n).update('\u0000').update(out[n]).update('\u0000');
  }
  manifest.contentHash = whole.digest('hex');
  out['manifest.json'] = `${JSON.stringify(manifest, null, 1)}\n`;
  return out;
}

export async function policyKernel(): Promise<{ ok: boolean; reason?: string }> {
  const k = await kernelAvailable();
  if (!k.ok) return k;
  try {
    const r = await run('nsenter', ['--version']);
    if (!r.ok) return { ok: false, reason: 'nsenter failed' };
  } catch {
    return { ok: false, reason: 'nsenter not found' };
  }
  return { ok: true };
}

/** `nft -j list table inet T` inside a named netns, normalized ('' when the table is absent). */
export async function kernelTable(netns: string, table = 'policyc'): Promise<string> {
  const r = await run('nsenter', [`--net=/run/netns/${netns}`, 'nft', '-j', 'list', 'table', 'inet', table]);
  if (!r.ok) {
    if (/No such file or directory/.test(r.stderr)) return '';
    throw new Error(`nft list in ${netns}: ${r.stderr}`);
  }
  return normalizeListing(JSON.parse(r.stdout));
}

export function ns(name: string, labels: Record<string, string> = {}) {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

export function pod(namespace: string, name: string, labels: Record<string, string>, ip: string, ports: Array<{ name: string; containerPort: number }> = []) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name, labels },
    spec: { nodeName: 'node-1', containers: [{ name: 'c', ports }] },
    status: { podIP: ip, podIPs: [{ ip }], phase: 'Running' },
  };
}

/** The libnftables helper, built with helper/build.sh when missing and a compiler is there. */
export async function ensureNftHelper(): Promise<string | undefined> {
  const found = locateNftHelper();
  if (found) return found;
  const script = join(dirname(fileURLToPath(import.meta.url)), 'helper', 'build.sh');
  try {
    const r = await run('bash', [script]);
    if (!r.ok) return undefined;
  } catch {
    return undefined;
  }
  return locateNftHelper();
}

/**
 * A native helper of dataplane/policy (`<folder>/bin/<name>`, found by `locate`), built with
 * `<folder>/build.sh` when missing. A build that fails throws: the test fails loudly.
 */
export async function ensureBuilt(folder: string, name: string, locate: () => string | undefined): Promise<string> {
  const found = locate();
  if (found) return found;
  const script = join(dirname(fileURLToPath(import.meta.url)), folder, 'build.sh');
  const r = await run('bash', [script]);
  if (!r.ok) throw new Error(`bash ${script} failed: ${r.stderr.trim()}`);
  const built = locate();
  if (!built) throw new Error(`${script} succeeded but ${name} is not there`);
  return built;
}

/** A unique network namespace name for a test (`<prefix>-<pid><random>`). */
export function netnsName(prefix: string): string {
  return `${prefix}-${process.pid.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

/** An endpoint source for the engine (what the CNI side's registry offers), driven by the test. */
export class FakeEndpoints extends EventEmitter {
  readonly eps: EndpointLike[] = [];
  live(): EndpointLike[] {
    return this.eps;
  }
  add(ep: EndpointLike): void {
    this.eps.push(ep);
    this.emit('add', ep);
  }
  remove(ep: EndpointLike): void {
    this.eps.splice(this.eps.indexOf(ep), 1);
    this.emit('remove', ep);
  }
}
