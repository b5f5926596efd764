// PC2006: a selector that matches nothing in the cluster snapshot. Usually a label typo, or
// `name:` where Kubernetes puts the namespace name in `kubernetes.io/metadata.name`.
// Judged only against what the snapshot lists: pod selectors when it has pods, namespace
// selectors when it has namespaces, node selectors when it has nodes.

import { diagnostic, type Diagnostic } from '../diagnostics/diagnostic.js';
import { NAMESPACE_NAME_LABEL, type ClusterPod } from '../model/cluster.js';
import type { Sourced } from '../model/inputs.js';
import { EVERYTHING, formatSelector, selectorMatches, type Labels, type Selector } from '../ir/selector.js';
import type { NamespaceMatch } from '../ir/types.js';
import type { PathSegment } from '../syntax/documents.js';
import { isObj, listOf, sampleNames, selectorOf, type LintContext } from './context.js';

export function lintEmptySelectors(ctx: LintContext): Diagnostic[] {
  if (!ctx.hasPods && !ctx.hasNamespaces) return [];
  const out: Diagnostic[] = [];
  for (const policy of ctx.program.policies) {
    const src = ctx.sourceOf(policy);
    if (!src || !isObj(src.object) || !isObj(src.object.spec)) continue;
    const found = ctx.cache.memo('PC2006', src, () => {
      const mine: Diagnostic[] = [];
      if (policy.ref.kind === 'NetworkPolicy') lintNetworkPolicy(ctx, src, policy.ref.namespace ?? 'default', mine);
      else lintAdminPolicy(ctx, src, mine);
      return mine;
    });
    out.push(...found);
  }
  return out;
}

function lintNetworkPolicy(ctx: LintContext, src: Sourced, namespace: string, out: Diagnostic[]): void {
  const obj = src.object as Record<string, unknown>;
  const spec = obj.spec as Record<string, unknown>;
  if (ctx.hasNamespaces && !ctx.cluster.namespaces.has(namespace)) {
    out.push(diagnostic('PC2006', `namespace ${namespace} is not in the cluster snapshot: this policy selects no pod`, ctx.span(src, ['metadata', 'namespace'])));
    return;
  }
  checkPods(ctx, src, ['spec', 'podSelector'], { kind: 'name', name: namespace }, selectorOf(spec.podSelector) ?? EVERYTHING, `in namespace ${namespace}`, out);
  for (const [direction, key] of [['ingress', 'from'], ['egress', 'to']] as const) {
    listOf(spec[direction]).forEach((rule, i) => {
      if (!isObj(rule)) return;
      listOf(rule[key]).forEach((peer, j) => {
        if (!isObj(peer) || isObj(peer.ipBlock)) return;
        const path: PathSegment[] = ['spec', direction, i, key, j];
        let ns: NamespaceMatch = { kind: 'name', name: namespace };
        let where = `in namespace ${namespace}`;
        if (peer.namespaceSelector !== undefined && peer.namespaceSelector !== null) {
          const nsSelector = selectorOf(peer.namespaceSelector) ?? EVERYTHING;
          if (!checkNamespaces(ctx, src, [...path, 'namespaceSelector'], peer.namespaceSelector, nsSelector, out)) return;
          ns = { kind: 'selector', selector: nsSelector };
          where = nsSelector.requirements.length === 0 ? 'in any namespace' : `in namespaces matching ${formatSelector(nsSelector)}`;
        }
        if (peer.podSelector !== undefined && peer.podSelector !== null) {
          checkPods(ctx, src, [...path, 'podSelector'], ns, selectorOf(peer.podSelector) ?? EVERYTHING, where, out);
        }
      });
    });
  }
}

function lintAdminPolicy(ctx: LintContext, src: Sourced, out: Diagnostic[]): void {
  const spec = (src.object as Record<string, unknown>).spec as Record<string, unknown>;
  const subject = spec.subject;
  if (isObj(subject)) namespacedPods(ctx, src, ['spec', 'subject'], subject, out);
  for (const [direction, key] of [['ingress', 'from'], ['egress', 'to']] as const) {
    listOf(spec[direction]).forEach((rule, i) => {
      if (!isObj(rule)) return;
      listOf(rule[key]).forEach((peer, j) => {
        if (!isObj(peer)) return;
        const path: PathSegment[] = ['spec', direction, i, key, j];
        if (isObj(peer.nodes) && ctx.input.inputs.nodes.length > 0) {
          const selector = selectorOf(peer.nodes) ?? EVERYTHING;
          if (!ctx.cluster.nodes.some((n) => selectorMatches(selector, n.labels))) {
            out.push(diagnostic('PC2006', `nodes selector ${formatSelector(selector)} matches no node of the cluster snapshot${labelHint(selector, ctx.cluster.nodes.map((n) => n.labels), 'node')}`, ctx.span(src, [...path, 'nodes'])));
          }
        }
        namespacedPods(ctx, src, path, peer, out);
      });
    });
  }
}

/** `namespaces: <selector>` or `pods: {namespaceSelector, podSelector}` (ANP subjects and peers). */
function namespacedPods(ctx: LintContext, src: Sourced, path: PathSegment[], holder: Record<string, unknown>, out: Diagnostic[]): void {
  if (isObj(holder.namespaces)) {
    checkNamespaces(ctx, src, [...path, 'namespaces'], holder.namespaces, selectorOf(holder.namespaces) ?? EVERYTHING, out);
  } else if (isObj(holder.pods)) {
    const pods = holder.pods;
    const nsSelector = selectorOf(pods.namespaceSelector) ?? EVERYTHING;
    if (!checkNamespaces(ctx, src, [...path, 'pods', 'namespaceSelector'], pods.namespaceSelector, nsSelector, out)) return;
    const where = nsSelector.requirements.length === 0 ? 'in any namespace' : `in namespaces matching ${formatSelector(nsSelector)}`;
    checkPods(ctx, src, [...path, 'pods', 'podSelector'], { kind: 'selector', selector: nsSelector }, selectorOf(pods.podSelector) ?? EVERYTHING, where, out);
  }
}

/** Reports a namespace selector that matches no namespace; true when it matches some (or cannot be judged). */
function checkNamespaces(ctx: LintContext, src: Sourced, path: PathSegment[], raw: unknown, selector: Selector, out: Diagnostic[]): boolean {
  if (!ctx.hasNamespaces || ctx.namespacesMatching(selector).length > 0) return true;
  const nameFix = nameLabelFix(ctx, src, path, raw);
  let message = `namespaceSelector ${formatSelector(selector)} matches no namespace of the cluster snapshot`;
  if (nameFix) {
    message += `. Kubernetes sets no \`name\` label on namespaces; the namespace name is in \`${NAMESPACE_NAME_LABEL}\` (namespace ${nameFix.namespace} exists)`;
  } else {
    message += labelHint(selector, [...ctx.cluster.namespaces.values()].map((n) => n.labels), 'namespace');
  }
  out.push(
    diagnostic('PC2006', message, ctx.span(src, path), nameFix ? { data: { replaceKey: nameFix.span, replacementKey: NAMESPACE_NAME_LABEL } } : {}),
  );
  return false;
}

function checkPods(ctx: LintContext, src: Sourced, path: PathSegment[], ns: NamespaceMatch, selector: Selector, where: string, out: Diagnostic[]): void {
  if (!ctx.hasPods || ctx.podsMatching(ns, selector).length > 0) return;
  const candidates: ClusterPod[] = ctx.podsMatching(ns, EVERYTHING);
  const what = selector.requirements.length === 0 ? 'podSelector {}' : `podSelector ${formatSelector(selector)}`;
  const message =
    candidates.length === 0
      ? `${what} matches no pod: the snapshot has no pods ${where}`
      : `${what} matches no pod ${where} in the cluster snapshot${labelHint(selector, candidates.map((p) => p.labels), 'pod')}`;
  out.push(diagnostic('PC2006', message, ctx.span(src, path)));
}

/** The first requirement nothing satisfies, with the labels that do exist: typos show. */
function labelHint(selector: Selector, labelSets: readonly Labels[], what: string): string {
  for (const r of selector.requirements) {
    if (r.operator !== 'In' && r.operator !== 'Exists') continue;
    const withKey = labelSets.filter((l) => Object.prototype.hasOwnProperty.call(l, r.key));
    if (withKey.length === 0) {
      const keys = [...new Set(labelSets.flatMap((l) => Object.keys(l)))].sort();
      return `: no ${what} has the label key \`${r.key}\`${keys.length ? ` (keys there: ${sampleNames(keys, 8)})` : ''}`;
    }
    if (r.operator === 'In' && !withKey.some((l) => r.values.includes(l[r.key]))) {
      const values = [...new Set(withKey.map((l) => l[r.key]))].sort();
      return `: no ${what} has ${r.key}=${r.values.join('|')} (values of ${r.key} there: ${sampleNames(values, 8)})`;
    }
  }
  return '';
}

/** A `name: X` requirement where namespace X exists: the edit that fixes it. */
function nameLabelFix(ctx: LintContext, src: Sourced, path: PathSegment[], raw: unknown) {
  if (!isObj(raw)) return undefined;
  const known = (v: unknown) => typeof v === 'string' && ctx.cluster.namespaces.has(v) && ctx.cluster.namespaces.get(v)!.labels.name === undefined;
  if (isObj(raw.matchLabels) && known(raw.matchLabels.name)) {
    const span = ctx.span(src, [...path, 'matchLabels', 'name'], true);
    return { namespace: String(raw.matchLabels.name), span: { start: span.start, end: span.end } };
  }
  const i = listOf(raw.matchExpressions).findIndex((e) => isObj(e) && e.key === 'name' && listOf(e.values).some(known));
  if (i >= 0) {
    const expr = listOf(raw.matchExpressions)[i] as Record<string, unknown>;
    const span = ctx.span(src, [...path, 'matchExpressions', i, 'key']);
    return { namespace: String(listOf(expr.values).find(known)), span: { start: span.start, end: span.end } };
  }
  return undefined;
}
