// PC2005: a rule names a port (`port: http`, `namedPort: metrics`) that no container of the
// destination pods defines, so the rule allows nothing on it. Needs pods in the snapshot.

import { diagnostic, type Diagnostic } from '../diagnostics/diagnostic.js';
import { podKey, type ClusterPod } from '../model/cluster.js';
import type { PortMatch, Rule } from '../ir/types.js';
import { sampleNames, type LintContext } from './context.js';

export function lintNamedPorts(ctx: LintContext): Diagnostic[] {
  if (!ctx.hasPods) return [];
  const out: Diagnostic[] = [];
  for (const rule of ctx.program.rules) out.push(...ctx.cache.memo('PC2005', rule, () => lintRule(ctx, rule)));
  return out;
}

function lintRule(ctx: LintContext, rule: Rule): Diagnostic[] {
  const out: Diagnostic[] = [];
  const named = (rule.ports ?? []).filter((p): p is Extract<PortMatch, { kind: 'named' }> => p.kind === 'named');
  if (named.length === 0) return out;
  const destinations = destinationPods(ctx, rule);
  if (!destinations || destinations.length === 0) return out;
  for (const pm of named) {
      const defines = (p: ClusterPod) => p.ports.some((port) => port.name === pm.name && (pm.protocol === undefined || port.protocol === pm.protocol));
      if (destinations.some(defines)) continue;
      const proto = pm.protocol ? `${pm.protocol} ` : '';
      const defined = [...new Set(destinations.flatMap((p) => p.ports.map((port) => `${port.name}=${port.port}/${port.protocol}`)))].sort();
      const message =
        `no container of the ${destinations.length} destination pod${destinations.length === 1 ? '' : 's'} (${sampleNames(destinations.map(podKey), 3)}) ` +
        `defines a ${proto}port named \`${pm.name}\`: this entry allows nothing` +
        (defined.length ? `. Named ports they define: ${sampleNames(defined, 6)}` : '. They define no named ports');
      const span = pm.span ?? rule.origins[0];
      if (span) out.push(diagnostic('PC2005', message, span, { data: { portName: pm.name, defined } }));
  }
  return out;
}

/** Ingress: the pods the rule protects. Egress: the pods its peers name (undefined: not only pods). */
function destinationPods(ctx: LintContext, rule: Rule): ClusterPod[] | undefined {
  if (rule.direction === 'ingress') return ctx.podsOfGroup(rule.subject);
  const out = new Map<string, ClusterPod>();
  for (const peer of rule.peers) {
    if (peer.kind !== 'pods') return undefined;
    for (const p of ctx.podsOfGroup(peer.group)) out.set(podKey(p), p);
  }
  return [...out.values()];
}
