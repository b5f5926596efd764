// Label selectors in one canonical form: requirements sorted by key, values sorted and
// deduplicated. Two selectors that mean the same thing have the same key, so groups built
// from them are shared by every rule that uses them.

import type { LabelSelector } from '../model/k8s-types.js';

export type Operator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface Requirement {
  readonly key: string;
  readonly operator: Operator;
  readonly values: readonly string[];
}

/** AND of requirements; no requirement selects everything. */
export interface Selector {
  readonly requirements: readonly Requirement[];
}

export type Labels = Readonly<Record<string, string>>;

export const EVERYTHING: Selector = { requirements: [] };

export function canonicalSelector(requirements: Requirement[]): Selector {
  const seen = new Map<string, Requirement>();
  for (const r of requirements) {
    const values = [...new Set(r.values)].sort();
    const req: Requirement = { key: r.key, operator: r.operator, values: r.operator === 'In' || r.operator === 'NotIn' ? values : [] };
    seen.set(requirementKey(req), req);
  }
  return { requirements: [...seen.values()].sort((a, b) => cmp(requirementKey(a), requirementKey(b))) };
}

export function fromLabelSelector(ls: LabelSelector | undefined | null): Selector {
  if (!ls) return EVERYTHING;
  const reqs: Requirement[] = [];
  for (const [key, value] of Object.entries(ls.matchLabels ?? {})) reqs.push({ key, operator: 'In', values: [String(value)] });
  for (const e of ls.matchExpressions ?? []) reqs.push({ key: e.key, operator: e.operator, values: (e.values ?? []).map(String) });
  return canonicalSelector(reqs);
}

function requirementKey(r: Requirement): string {
  return `${r.key}\u0000${r.operator}\u0000${r.values.join('\u0001')}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function selectorKey(s: Selector): string {
  return s.requirements.map(requirementKey).join('\u0002');
}

export function requirementMatches(r: Requirement, labels: Labels): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  switch (r.operator) {
    case 'In':
      return has && r.values.includes(labels[r.key]);
    case 'NotIn':
      // Objects without the key match NotIn, as in Kubernetes.
      return !has || !r.values.includes(labels[r.key]);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
  }
}

export function selectorMatches(s: Selector, labels: Labels): boolean {
  for (const r of s.requirements) if (!requirementMatches(r, labels)) return false;
  return true;
}

/** The first requirement the labels fail, if any. */
export function firstMismatch(s: Selector, labels: Labels): Requirement | undefined {
  return s.requirements.find((r) => !requirementMatches(r, labels));
}

/** kubectl `-l` syntax: `app=web,tier in (a,b),!legacy`; `{}` for everything. */
export function formatSelector(s: Selector): string {
  if (s.requirements.length === 0) return '{}';
  return s.requirements.map(formatRequirement).join(',');
}

export function formatRequirement(r: Requirement): string {
  switch (r.operator) {
    case 'In':
      return r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(',')})`;
    case 'NotIn':
      return r.values.length === 1 ? `${r.key}!=${r.values[0]}` : `${r.key} notin (${r.values.join(',')})`;
    case 'Exists':
      return r.key;
    case 'DoesNotExist':
      return `!${r.key}`;
  }
}

export function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels).sort(([a], [b]) => cmp(a, b));
  return `{${entries.map(([k, v]) => `${k}: ${v}`).join(', ')}}`;
}

/** Label keys a selector reads: identities only need these. */
export function selectorKeys(s: Selector): string[] {
  return s.requirements.map((r) => r.key);
}
