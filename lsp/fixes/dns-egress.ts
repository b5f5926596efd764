// PC2004: default-deny egress blocks DNS. The fix adds an egress rule allowing UDP and TCP 53
// to kube-dns in kube-system, in the style of the surrounding list.

import { isMap, isScalar, isSeq, type Node, type YAMLMap } from 'yaml';
import { column, contentEnd, dashColumn, indentBlock, nodeAt, pairOf } from '../yaml-edit.js';
import type { Fix, FixContext } from './fix.js';

export const DNS_RULE = [
  '- to:',
  '  - namespaceSelector:',
  '      matchLabels:',
  '        kubernetes.io/metadata.name: kube-system',
  '    podSelector:',
  '      matchLabels:',
  '        k8s-app: kube-dns',
  '  ports:',
  '  - protocol: UDP',
  '    port: 53',
  '  - protocol: TCP',
  '    port: 53',
].join('\n');

export function addDnsEgress(ctx: FixContext): Fix[] {
  const specPath = (ctx.diagnostic.data as { specPath?: Array<string | number> } | undefined)?.specPath;
  if (!specPath) return [];
  const spec = nodeAt(ctx.doc, specPath);
  if (!isMap(spec) || spec.flow || !spec.range) return [];
  const text = ctx.text;
  const egress = pairOf(spec as YAMLMap, 'egress');
  const title = 'Allow DNS egress (UDP and TCP 53 to kube-dns in kube-system)';
  const keyNode = egress?.key as Node | undefined;
  const value = egress?.value;
  if (keyNode?.range && isSeq(value) && !value.flow && value.items.length > 0) {
    const last = value.items[value.items.length - 1] as Node;
    const first = value.items[0] as Node;
    const dash = first.range ? dashColumn(text, first.range[0]) : undefined;
    if (dash === undefined || !last.range) return [];
    const at = contentEnd(text, last.range[1]);
    return [{ title, edits: [{ start: at, end: at, newText: `\n${indentBlock(DNS_RULE, dash)}` }], preferred: true }];
  }
  if (keyNode?.range && (value === null || (isScalar(value) && value.value === null) || (isSeq(value) && value.items.length === 0))) {
    const col = column(text, keyNode.range[0]);
    const colon = text.indexOf(':', keyNode.range[1]);
    const end = value && value.range ? contentEnd(text, value.range[1]) : colon + 1;
    return [{ title, edits: [{ start: colon + 1, end: Math.max(end, colon + 1), newText: `\n${indentBlock(DNS_RULE, col)}` }], preferred: true }];
  }
  if (egress) return [];
  const firstKey = (spec as YAMLMap).items[0]?.key as Node | undefined;
  if (!firstKey?.range) return [];
  const col = column(text, firstKey.range[0]);
  const at = contentEnd(text, spec.range[1]);
  return [{ title, edits: [{ start: at, end: at, newText: `\n${' '.repeat(col)}egress:\n${indentBlock(DNS_RULE, col)}` }], preferred: true }];
}
