// The compile artifact: every file the node daemon (and people) need, as name -> text, plus
// a manifest with the format version, a content hash and counts. Pure: the CLI writes it.

import { createHash } from 'node:crypto';
import type { SourceSet } from '../syntax/source.js';
import type { Program } from '../ir/types.js';
import { policyLabel } from '../ir/types.js';
import { formatSelector } from '../ir/selector.js';
import { locate } from '../evaluate/explain.js';

export const ARTIFACT_FORMAT_VERSION = 1;

export interface BackendOutput {
  /** file name -> JSON value */
  files: Record<string, unknown>;
  counts: Record<string, number>;
  /** Write these files as compact JSON (element-heavy, machine-read: half the bytes to write and hash). */
  compact?: boolean;
}

export interface Artifact {
  /** file name -> text, manifest.json included; write manifest.json last. */
  files: Map<string, string>;
  manifest: Manifest;
}

export interface Manifest {
  formatVersion: number;
  generator: string;
  /** sha256 over every other file's name and content, in name order. */
  contentHash: string;
  withSnapshot: boolean;
  /** Set when the membership is one node's table (`compile --node`): decisions for its pods only. */
  node?: string;
  counts: Record<string, number>;
  files: Record<string, string>;
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 1)}\n`;
}

export function ruleMap(program: Program, sources: SourceSet) {
  return program.rules.map((r) => ({
    id: r.id,
    cookie: r.cookie,
    policy: policyLabel(r.policy),
    tier: r.tier,
    priority: r.priority,
    direction: r.direction,
    action: r.action,
    ...(r.name ? { name: r.name } : {}),
    origins: r.origins.map((o) => locate(sources, o)),
  }));
}

export function groupTable(program: Program) {
  return program.groups.map((g) => ({
    id: g.id,
    namespaces: g.namespaces.kind === 'name' ? { name: g.namespaces.name } : { selector: g.namespaces.selector, text: formatSelector(g.namespaces.selector) },
    pods: { selector: g.pods, text: formatSelector(g.pods) },
  }));
}

export function buildArtifact(
  program: Program,
  sources: SourceSet,
  backends: readonly BackendOutput[],
  options: { withSnapshot: boolean; generator?: string; node?: string },
): Artifact {
  const files = new Map<string, string>();
  // The IR is machine-read (the node daemon) and large: compact JSON (~40% less to write and hash).
  files.set('program.json', `${JSON.stringify(program)}\n`);
  files.set('rules.json', json(ruleMap(program, sources)));
  files.set('groups.json', json(groupTable(program)));
  const counts: Record<string, number> = {
    policies: program.policies.length,
    rules: program.rules.length,
    groups: program.groups.length,
  };
  for (const backend of backends) {
    for (const [name, value] of Object.entries(backend.files)) files.set(name, backend.compact ? `${JSON.stringify(value)}\n` : json(value));
    Object.assign(counts, backend.counts);
  }
  const names = [...files.keys()].sort();
  const fileHashes: Record<string, string> = {};
  const whole = createHash('sha256');
  for (const name of names) {
    const bytes = Buffer.from(files.get(name)!, 'utf8'); // encoded once, hashed twice
    fileHashes[name] = createHash('sha256').update(bytes).digest('hex');
    whole.update(name).update('\u0000').update(bytes).update('\u0000');
  }
  const manifest: Manifest = {
    formatVersion: ARTIFACT_FORMAT_VERSION,
    generator: options.generator ?? 'policyc',
    contentHash: whole.digest('hex'),
    withSnapshot: options.withSnapshot,
    ...(options.node !== undefined ? { node: options.node } : {}),
    counts,
    files: fileHashes,
  };
  files.set('manifest.json', json(manifest));
  return { files, manifest };
}

/** Recomputes the content hash; the daemon refuses an artifact whose hash does not match. */
export function verifyArtifact(files: ReadonlyMap<string, string>): { ok: true; manifest: Manifest } | { ok: false; reason: string } {
  const manifestText = files.get('manifest.json');
  if (!manifestText) return { ok: false, reason: 'manifest.json is missing' };
  let manifest: Manifest;
  try {
    manifest = JSON.parse(manifestText) as Manifest;
  } catch (err) {
    return { ok: false, reason: `manifest.json is not JSON: ${(err as Error).message}` };
  }
  if (manifest.formatVersion !== ARTIFACT_FORMAT_VERSION) return { ok: false, reason: `format version ${manifest.formatVersion} is not ${ARTIFACT_FORMAT_VERSION}` };
  const whole = createHash('sha256');
  for (const name of Object.keys(manifest.files ?? {}).sort()) {
    const text = files.get(name);
    if (text === undefined) return { ok: false, reason: `${name} is missing` };
    whole.update(name).update('\u0000').update(text).update('\u0000');
  }
  const hash = whole.digest('hex');
  if (hash !== manifest.contentHash) return { ok: false, reason: `content hash ${hash} does not match the manifest's ${manifest.contentHash}` };
  return { ok: true, manifest };
}
