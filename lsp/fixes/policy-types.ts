// PC2002 (policyTypes omitted on an egress-only policy) and PC2003 (rules for a direction
// policyTypes does not list): set or extend policyTypes so the policy says what it means.

import { isMap, isSeq, type Node, type YAMLMap } from 'yaml';
import { column, contentEnd, dashColumn, lineStart, nodeAt, pairOf } from '../yaml-edit.js';
import type { Fix, FixContext } from './fix.js';

export function addPolicyTypes(ctx: FixContext): Fix[] {
  if (!ctx.src) return [];
  const spec = nodeAt(ctx.doc, [...ctx.src.path, 'spec']);
  if (!isMap(spec)) return [];
  const text = ctx.text;
  const egress = pairOf(spec as YAMLMap, 'egress');
  const anchor = (egress?.key ?? (spec as YAMLMap).items[0]?.key) as Node | undefined;
  if (!anchor?.range) return [];
  const insert = (types: string) => {
    if (spec.flow) return { start: anchor.range![0], end: anchor.range![0], newText: `policyTypes: [${types}], ` };
    const at = lineStart(text, anchor.range![0]);
    const col = column(text, anchor.range![0]);
    // The anchor key may follow a `- ` on its line; only a bare key line can take a line above it.
    if (text.slice(at, anchor.range![0]).trim() !== '') return undefined;
    return { start: at, end: at, newText: `${' '.repeat(col)}policyTypes: [${types}]\n` };
  };
  const egressOnly = insert('Egress');
  const both = insert('Ingress, Egress');
  if (!egressOnly || !both) return [];
  return [
    { title: 'Set policyTypes: [Egress] (egress only: stop denying all ingress)', edits: [egressOnly], preferred: true },
    { title: 'Set policyTypes: [Ingress, Egress] (keep denying ingress, explicitly)', edits: [both] },
  ];
}

export function addMissingPolicyType(ctx: FixContext): Fix[] {
  const missing = (ctx.diagnostic.data as { missingPolicyType?: string } | undefined)?.missingPolicyType;
  if (!ctx.src || (missing !== 'Ingress' && missing !== 'Egress')) return [];
  const seq = nodeAt(ctx.doc, [...ctx.src.path, 'spec', 'policyTypes']);
  if (!isSeq(seq) || !seq.range) return [];
  const text = ctx.text;
  const last = seq.items[seq.items.length - 1] as Node | undefined;
  let edit;
  if (seq.flow) {
    if (last?.range) edit = { start: last.range[1], end: last.range[1], newText: `, ${missing}` };
    else {
      const open = text.indexOf('[', seq.range[0]);
      if (open < 0) return [];
      edit = { start: open + 1, end: open + 1, newText: missing };
    }
  } else {
    if (!last?.range) return [];
    const dash = dashColumn(text, last.range[0]);
    if (dash === undefined) return [];
    const at = contentEnd(text, last.range[1]);
    edit = { start: at, end: at, newText: `\n${' '.repeat(dash)}- ${missing}` };
  }
  return [{ title: `Add ${missing} to policyTypes (the ${missing.toLowerCase()} rules are ignored until then)`, edits: [edit], preferred: true }];
}
