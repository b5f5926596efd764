// Label selectors in plain words, and who they pick in the snapshot.

import { canonicalSelector, type Requirement, type Selector } from '../../compiler/ir/selector.js';

const OPERATORS = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);

/** A selector as written -> canonical; undefined when absent (null or missing); malformed parts skipped. */
export function readSelector(raw: unknown): Selector | undefined {
  if (raw === null || raw === undefined) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) return { requirements: [] };
  const obj = raw as Record<string, unknown>;
  const reqs: Requirement[] = [];
  if (obj.matchLabels && typeof obj.matchLabels === 'object') {
    for (const [key, value] of Object.entries(obj.matchLabels as Record<string, unknown>)) reqs.push({ key, operator: 'In', values: [String(value ?? '')] });
  }
  if (Array.isArray(obj.matchExpressions)) {
    for (const e of obj.matchExpressions) {
      if (!e || typeof e !== 'object') continue;
      const { key, operator, values } = e as Record<string, unknown>;
      if (typeof key !== 'string' || typeof operator !== 'string' || !OPERATORS.has(operator)) continue;
      reqs.push({ key, operator: operator as Requirement['operator'], values: Array.isArray(values) ? values.map(String) : [] });
    }
  }
  return canonicalSelector(reqs);
}

export function requirementWords(r: Requirement): string {
  switch (r.operator) {
    case 'In':
      return r.values.length === 1 ? `\`${r.key}=${r.values[0]}\`` : `\`${r.key}\` one of ${r.values.map((v) => `\`${v}\``).join(', ')}`;
    case 'NotIn':
      return `\`${r.key}\` not ${r.values.map((v) => `\`${v}\``).join(' or ')} (or no \`${r.key}\` label at all)`;
    case 'Exists':
      return `a \`${r.key}\` label`;
    case 'DoesNotExist':
      return `no \`${r.key}\` label`;
  }
}

/** `every pod` / `pods with \`app=web\` and a \`tier\` label`. */
export function selectorWords(selector: Selector, noun: string): string {
  if (selector.requirements.length === 0) return `every ${noun}`;
  return `${noun}s with ${selector.requirements.map(requirementWords).join(' and ')}`;
}

export function listWords(names: readonly string[], max = 8): string {
  if (names.length === 0) return 'none';
  const shown = names.slice(0, max).map((n) => `\`${n}\``).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
