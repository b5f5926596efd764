import type { ReachMatrix } from '../compiler/evaluate/reach.js';

/** Like the upstream truth tables: rows = from, '.' connects, 'X' is blocked. */
export function renderReachText(m: ReachMatrix): string {
  const width = Math.max(4, ...m.pods.map((p) => p.length));
  const header = `${' '.repeat(width)} ${m.pods.join(' ')}`;
  const rows = m.pods.map((p, i) => `${p.padEnd(width)} ${m.allowed[i].map((a, j) => (a ? '.' : 'X').padEnd(m.pods[j].length)).join(' ')}`.trimEnd());
  return [header, ...rows].join('\n');
}
