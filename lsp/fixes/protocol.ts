// PC2010: a port without protocol defaults to TCP. The fix writes `protocol: TCP`, which
// changes nothing in meaning and says it (Cilium L7 rules reject a port without one).

import { isMap, isScalar, type Node, type YAMLMap } from 'yaml';
import { column, nodeStartingAt } from '../yaml-edit.js';
import type { Fix, FixContext } from './fix.js';

export function addProtocol(ctx: FixContext): Fix[] {
  const span = ctx.diagnostic.span;
  if (!span) return [];
  const node = nodeStartingAt(ctx.doc, span.start);
  const title = 'Add `protocol: TCP` (the default, made explicit)';
  if (isMap(node) && node.range) {
    const firstKey = (node as YAMLMap).items[0]?.key as Node | undefined;
    if (node.flow) {
      if (firstKey?.range) return [{ title, edits: [{ start: firstKey.range[0], end: firstKey.range[0], newText: 'protocol: TCP, ' }], preferred: true }];
      const open = ctx.text.indexOf('{', node.range[0]);
      return open < 0 ? [] : [{ title, edits: [{ start: open + 1, end: open + 1, newText: 'protocol: TCP' }], preferred: true }];
    }
    if (!firstKey?.range) return [];
    const col = column(ctx.text, firstKey.range[0]);
    return [{ title, edits: [{ start: firstKey.range[0], end: firstKey.range[0], newText: `protocol: TCP\n${' '.repeat(col)}` }], preferred: true }];
  }
  if (isScalar(node) && node.value === null && node.range) {
    return [{ title, edits: [{ start: node.range[0], end: node.range[1], newText: '{protocol: TCP}' }], preferred: true }];
  }
  return [];
}
