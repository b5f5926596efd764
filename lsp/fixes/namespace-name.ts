// PC2011 / PC2006: `name` on a namespace selector. Kubernetes sets no `name` label on
// namespaces; the name is in `kubernetes.io/metadata.name`. The fix renames the key (or the
// matchExpressions `key:` value).

import { isScalar } from 'yaml';
import { nodeStartingAt } from '../yaml-edit.js';
import type { Fix, FixContext } from './fix.js';

export function useMetadataNameLabel(ctx: FixContext): Fix[] {
  const data = ctx.diagnostic.data as { replacementKey?: string; replaceKey?: { start: number; end: number } } | undefined;
  const replacement = data?.replacementKey;
  const start = data?.replaceKey?.start ?? ctx.diagnostic.span?.start;
  if (!replacement || start === undefined) return [];
  const node = nodeStartingAt(ctx.doc, start, true);
  if (!isScalar(node) || node.value !== 'name' || !node.range) return [];
  return [{ title: `Use \`${replacement}\` (the label Kubernetes sets on every namespace)`, edits: [{ start: node.range[0], end: node.range[1], newText: replacement }], preferred: true }];
}
