// "In the snapshot: ..." lines for hovers: which pods or namespaces a selector picks.

import { podKey } from '../../compiler/model/cluster.js';
import type { Selector } from '../../compiler/ir/selector.js';
import type { NamespaceMatch } from '../../compiler/ir/types.js';
import type { LintContext } from '../../compiler/lint/index.js';
import { listWords, plural } from './selectors.js';

export function podsLine(ctx: LintContext, ns: NamespaceMatch, pods: Selector): string | undefined {
  if (!ctx.hasPods) return undefined;
  const hit = ctx.podsMatching(ns, pods).map(podKey);
  return hit.length === 0 ? 'In the snapshot: **no pod** matches.' : `In the snapshot: ${plural(hit.length, 'pod')}: ${listWords(hit)}.`;
}

export function namespacesLine(ctx: LintContext, selector: Selector): string | undefined {
  if (!ctx.hasNamespaces) return undefined;
  const hit = ctx.namespacesMatching(selector).map((n) => n.name);
  return hit.length === 0 ? 'In the snapshot: **no namespace** matches.' : `In the snapshot: ${plural(hit.length, 'namespace')}: ${listWords(hit)}.`;
}
