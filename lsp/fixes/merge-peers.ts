// PC2001: `- namespaceSelector: ...` and `- podSelector: ...` as two peers are ORed. The fix
// moves the podSelector into the namespaceSelector's peer (one peer: ANDed) and deletes the
// other item.

import { isMap, isSeq, type Node, type YAMLMap } from 'yaml';
import { column, contentEnd, dashColumn, lineStart, nextLineStart, nodeAt, pairOf, reindent } from '../yaml-edit.js';
import type { Fix, FixContext } from './fix.js';

export function mergeOredPeers(ctx: FixContext): Fix[] {
  const data = ctx.diagnostic.data as { rulePath?: Array<string | number>; peersKey?: string; namespaceSelectorPeer?: number; podSelectorPeer?: number } | undefined;
  if (!ctx.src || !data?.rulePath || !data.peersKey || data.namespaceSelectorPeer === undefined || data.podSelectorPeer === undefined) return [];
  const seq = nodeAt(ctx.doc, [...ctx.src.path, ...data.rulePath, data.peersKey]);
  if (!isSeq(seq) || seq.flow) return [];
  const nsItem = seq.items[data.namespaceSelectorPeer] as Node | undefined;
  const podItem = seq.items[data.podSelectorPeer] as Node | undefined;
  if (!isMap(nsItem) || !isMap(podItem) || !nsItem.range || !podItem.range) return [];
  const podPair = pairOf(podItem as YAMLMap, 'podSelector');
  if (!podPair?.key?.range || !podPair.value?.range) return [];
  const text = ctx.text;
  const pairText = text.slice(podPair.key.range[0], contentEnd(text, podPair.value.range[1]));
  const edits = [];
  if (nsItem.flow) {
    const close = text.lastIndexOf('}', nsItem.range[1]);
    if (close < nsItem.range[0] || pairText.includes('\n')) return [];
    edits.push({ start: close, end: close, newText: `, ${pairText}` });
  } else {
    const firstKey = (nsItem as YAMLMap).items[0]?.key as Node | undefined;
    if (!firstKey?.range) return [];
    const toCol = column(text, firstKey.range[0]);
    const moved = reindent(pairText, column(text, podPair.key.range[0]), toCol);
    const at = contentEnd(text, nsItem.range[1]);
    edits.push({ start: at, end: at, newText: `\n${' '.repeat(toCol)}${moved}` });
  }
  // Delete the podSelector-only item: its whole lines, dash included.
  const dash = dashColumn(text, podItem.range[0]);
  if (dash === undefined) return [];
  const from = lineStart(text, podItem.range[0]);
  const to = nextLineStart(text, contentEnd(text, podItem.range[1]));
  edits.push({ start: from, end: to, newText: '' });
  return [{ title: 'Merge into one peer: pods matching the podSelector in namespaces matching the namespaceSelector (AND)', edits, preferred: true }];
}
