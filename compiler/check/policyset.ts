// Checks across the objects of one input set: two objects of one kind with the same identity
// (the second would overwrite the first), and AdminNetworkPolicies sharing a priority (the
// order between them is undefined).

import { diagnostic, type Diagnostic } from '../diagnostics/diagnostic.js';
import type { Sourced } from '../model/inputs.js';
import { fieldSpan as rawFieldSpan } from '../model/inputs.js';
import type { PathSegment } from '../syntax/documents.js';
import { clampSpan } from './reporter.js';
import { isObj } from './values.js';

function fieldSpan(src: Sourced, path: readonly PathSegment[]) {
  return clampSpan(rawFieldSpan(src, path), src.doc.file.text.length);
}

const CLUSTER_SCOPED = new Set(['AdminNetworkPolicy', 'BaselineAdminNetworkPolicy']);

function identity(src: Sourced): { kind: string; key: string; label: string } | undefined {
  const obj = src.object;
  if (!isObj(obj) || typeof obj.kind !== 'string' || !isObj(obj.metadata)) return undefined;
  const name = obj.metadata.name;
  if (typeof name !== 'string') return undefined;
  if (CLUSTER_SCOPED.has(obj.kind)) return { kind: obj.kind, key: `${obj.kind}|${name}`, label: name };
  const namespace = typeof obj.metadata.namespace === 'string' ? obj.metadata.namespace : '';
  return { kind: obj.kind, key: `${obj.kind}|${namespace}|${name}`, label: namespace ? `${namespace}/${name}` : name };
}

export function checkDuplicates(srcs: readonly Sourced[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const first = new Map<string, Sourced>();
  for (const src of srcs) {
    const id = identity(src);
    if (!id) continue;
    const earlier = first.get(id.key);
    if (!earlier) {
      first.set(id.key, src);
      continue;
    }
    out.push(diagnostic('PC2008', `${id.kind} ${id.label} is defined twice; the API server keeps only one of them`, fieldSpan(src, ['metadata', 'name']), {
      related: [{ span: fieldSpan(earlier, ['metadata', 'name']), message: `first definition of ${id.label}` }],
    }));
  }
  return out;
}

export function checkPriorityClashes(srcs: readonly Sourced[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const byPriority = new Map<number, Sourced>();
  for (const src of srcs) {
    const obj = src.object;
    if (!isObj(obj) || obj.kind !== 'AdminNetworkPolicy' || !isObj(obj.spec)) continue;
    const priority = obj.spec.priority;
    if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < 0 || priority > 1000) continue;
    const earlier = byPriority.get(priority);
    if (!earlier) {
      byPriority.set(priority, src);
      continue;
    }
    const name = (o: unknown) => (isObj(o) && isObj(o.metadata) && typeof o.metadata.name === 'string' ? o.metadata.name : '(unnamed)');
    out.push(diagnostic('PC2009', `AdminNetworkPolicy ${name(obj)} has priority ${priority}, like ${name(earlier.object)}: where both match a connection, which one applies is undefined`, fieldSpan(src, ['spec', 'priority']), {
      related: [{ span: fieldSpan(earlier, ['spec', 'priority']), message: `${name(earlier.object)} has priority ${priority}` }],
    }));
  }
  return out;
}
