// PC2004: a NetworkPolicy isolates egress for some pods and nothing lets them reach DNS
// (kube-dns / CoreDNS on port 53), so every name lookup of theirs times out. With a snapshot
// that has the DNS pods, the reference evaluator decides for each selected pod; without one,
// an egress rule for the same (or more) pods that allows UDP 53 is looked for.

import { diagnostic, type Diagnostic } from '../diagnostics/diagnostic.js';
import { podEndpoint } from '../evaluate/endpoints.js';
import { Evaluator } from '../evaluate/evaluator.js';
import { podKey, type ClusterPod } from '../model/cluster.js';
import { formatSelector, selectorMatches } from '../ir/selector.js';
import { policyLabel, type Group, type Peer, type Policy, type PortMatch, type Rule } from '../ir/types.js';
import { sampleNames, type LintContext } from './context.js';
import { namespacesCover, selectorCovers } from './covers.js';
import { objectId } from './cache.js';

export const DNS_LABELS = { 'k8s-app': 'kube-dns' } as const;
export const DNS_NAMESPACE = 'kube-system';

export function lintDnsBlocked(ctx: LintContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  const isolating = ctx.program.policies.filter((p) => p.tier === 'networkpolicy' && p.isolates.includes('egress'));
  if (isolating.length === 0) return out;
  const dnsPods = ctx.hasPods ? ctx.cluster.pods.filter((p) => selectorMatches({ requirements: [{ key: 'k8s-app', operator: 'In', values: ['kube-dns'] }] }, p.labels)) : [];
  const judge = dnsPods.length > 0 ? snapshotJudge(ctx, dnsPods) : undefined;
  const dnsRules = ctx.program.rules.filter((r) => r.direction === 'egress' && r.action === 'allow' && allowsUdp53(r.ports) && r.peers.some((p) => mayBeDns(ctx, p)));
  for (const policy of isolating) {
    const src = ctx.sourceOf(policy);
    if (!src) continue;
    let blocked: string[] | undefined;
    if (judge) {
      const pods = ctx.podsOfGroup(policy.subject);
      blocked = pods.filter((p) => !judge(p)).map(podKey);
      if (blocked.length === 0) continue;
    } else if (staticallyAllowsDns(ctx, policy, dnsRules)) {
      continue;
    }
    const group = ctx.groups.get(policy.subject);
    const who = blocked
      ? `pod${blocked.length === 1 ? '' : 's'} ${sampleNames(blocked, 3)}`
      : `pods ${group && group.pods.requirements.length > 0 ? formatSelector(group.pods) : '(all)'} in ${policy.ref.namespace}`;
    const signature = `${src.path.join('/')}|${blocked?.join(',') ?? '-'}|${who}`;
    out.push(
      ctx.cache.memoBy('PC2004:diagnostic', String(objectId(policy)), signature, () => diagnostic(
        'PC2004',
        `${policyLabel(policy.ref)} isolates egress for ${who}, and no egress rule lets ${blocked && blocked.length === 1 ? 'it' : 'them'} reach DNS ` +
          `(UDP and TCP port 53 to kube-dns in ${DNS_NAMESPACE}): every name lookup will time out. Allow DNS egress explicitly`,
        policy.policyTypesSpan,
        { data: { specPath: [...src.path, 'spec'], blockedPods: blocked ?? [] } },
      )),
    );
  }
  return out;
}

/**
 * With DNS pods in the snapshot: may this pod send UDP 53 to at least one of them (egress
 * side)? The evaluator gets, for each pod, a program holding only the egress rules and
 * policies that select that pod (the others cannot change its egress verdict), so judging
 * every pod stays linear in the rules.
 */
function snapshotJudge(ctx: LintContext, dnsPods: ClusterPod[]): (pod: ClusterPod) => boolean {
  const rulesByPod = new Map<string, Rule[]>();
  const policiesByPod = new Map<string, Policy[]>();
  const push = <T>(map: Map<string, T[]>, key: string, value: T) => {
    const list = map.get(key);
    if (list) list.push(value);
    else map.set(key, [value]);
  };
  for (const rule of ctx.program.rules) if (rule.direction === 'egress') for (const p of ctx.podsOfGroup(rule.subject)) push(rulesByPod, podKey(p), rule);
  for (const policy of ctx.program.policies) if (policy.isolates.includes('egress')) for (const p of ctx.podsOfGroup(policy.subject)) push(policiesByPod, podKey(p), policy);
  const cache = new Map<string, boolean>();
  const destinations = dnsPods.map((p) => podEndpoint(ctx.cluster, p));
  const judge = (key: string, pod: ClusterPod): boolean => {
    const rules = rulesByPod.get(key) ?? [];
    const policies = policiesByPod.get(key) ?? [];
    const ids = new Set<string>([...rules.map((r) => r.subject), ...policies.map((p) => p.subject)]);
    for (const r of rules) for (const peer of r.peers) if (peer.kind === 'pods') ids.add(peer.group);
    const groups = [...ids].map((id) => ctx.groups.get(id)).filter((g): g is Group => !!g);
    const evaluator = new Evaluator({ formatVersion: 1, groups, policies, rules }, ctx.cluster);
    const source = podEndpoint(ctx.cluster, pod);
    return destinations.some((destination) => evaluator.evaluateDirection('egress', { source, destination, protocol: 'UDP', port: 53 }).allowed);
  };
  return (pod) => {
    const key = podKey(pod);
    let ok = cache.get(key);
    if (ok === undefined) {
      // The verdict depends only on this pod's egress rules and policies (and the cluster).
      const signature = `${(rulesByPod.get(key) ?? []).map(objectId).join(',')}|${(policiesByPod.get(key) ?? []).map(objectId).join(',')}|${dnsPods.map(podKey).join(',')}`;
      ok = ctx.cache.memoBy('PC2004', key, signature, () => judge(key, pod));
      cache.set(key, ok);
    }
    return ok;
  };
}

/** Without DNS pods to ask about: an allow rule for these pods (or more) with UDP 53 towards something that may be kube-dns. */
function staticallyAllowsDns(ctx: LintContext, policy: Policy, dnsRules: readonly Rule[]): boolean {
  const subject = ctx.groups.get(policy.subject);
  if (!subject) return true;
  return dnsRules.some((rule) => {
    if (rule.tier !== 'networkpolicy') return true; // admin tiers: lenient, their subjects are namespace-wide
    const g = ctx.groups.get(rule.subject);
    return !!g && namespacesCover(g.namespaces, subject.namespaces) && selectorCovers(g.pods, subject.pods);
  });
}

function allowsUdp53(ports: readonly PortMatch[] | undefined): boolean {
  if (!ports) return true;
  return ports.some((p) => {
    if (p.kind === 'all') return p.protocol === 'UDP';
    if (p.kind === 'range') return p.protocol === 'UDP' && p.from <= 53 && p.to >= 53;
    return p.name === 'dns' && p.protocol !== 'TCP';
  });
}

function mayBeDns(ctx: LintContext, peer: Peer): boolean {
  if (peer.kind === 'any' || peer.kind === 'cidr') return true;
  if (peer.kind === 'nodes') return false;
  const g = ctx.groups.get(peer.group);
  if (!g) return false;
  const nsOk = g.namespaces.kind === 'name' ? g.namespaces.name === DNS_NAMESPACE : selectorMatches(g.namespaces.selector, ctx.cluster.namespaces.get(DNS_NAMESPACE)?.labels ?? { 'kubernetes.io/metadata.name': DNS_NAMESPACE });
  return nsOk && selectorMatches(g.pods, DNS_LABELS);
}
