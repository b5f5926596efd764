// PC2012: an ipBlock that covers pod or Service addresses. Service IPs are translated to pod
// IPs (DNAT) before policy is applied, so an ipBlock over the Service range never matches;
// whether ipBlocks match pod traffic at all depends on the network plugin, and pod IPs change.
// Pod ranges come from the nodes' podCIDRs and the options; pod addresses from the snapshot.
// A default route (prefix 0) is taken as "anywhere" and not reported.

import { diagnostic, type Diagnostic } from '../diagnostics/diagnostic.js';
import { cidrRange, formatIp, parseCidr, parseIp, subtractRanges, type IpAddress, type IpRange } from '../ir/cidr.js';
import { podKey, type ClusterPod } from '../model/cluster.js';
import { policyLabel, type Rule } from '../ir/types.js';
import { sampleNames, type LintContext } from './context.js';

interface NamedRange {
  text: string;
  range: IpRange;
}

function ranges(texts: readonly string[]): NamedRange[] {
  const out: NamedRange[] = [];
  for (const text of texts) {
    const c = parseCidr(text);
    if (c) out.push({ text, range: cidrRange(c) });
  }
  return out;
}

function overlap(a: IpRange, b: IpRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

export function lintIpBlocksOverPods(ctx: LintContext): Diagnostic[] {
  const podRanges = ranges([...ctx.cluster.nodes.flatMap((n) => n.podCIDRs), ...(ctx.options.podCIDRs ?? [])]);
  const serviceRanges = ranges(ctx.options.serviceCIDRs ?? []);
  const podIps = ctx.cluster.pods.flatMap((pod) => pod.ips.map((ip) => ({ pod, ip: parseIp(ip) }))).filter((x) => x.ip);
  if (podRanges.length === 0 && serviceRanges.length === 0 && podIps.length === 0) return [];
  const out: Diagnostic[] = [];
  for (const rule of ctx.program.rules) {
    if (rule.peers.some((p) => p.kind === 'cidr')) out.push(...ctx.cache.memo('PC2012', rule, () => lintRule(rule, podRanges, serviceRanges, podIps)));
  }
  return out;
}

function lintRule(rule: Rule, podRanges: NamedRange[], serviceRanges: NamedRange[], podIps: Array<{ pod: ClusterPod; ip: IpAddress | undefined }>): Diagnostic[] {
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const peer of rule.peers) {
    if (peer.kind !== 'cidr') continue;
    const c = parseCidr(peer.cidr);
    if (!c || c.prefix === 0) continue;
    const key = `${peer.span.file}|${peer.span.start}|${peer.cidr}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const holes = peer.except.map((e) => parseCidr(e)).filter((x) => !!x).map((x) => cidrRange(x!));
    const matched = subtractRanges(cidrRange(c), holes);
    const hits = (r: IpRange) => matched.some((m) => overlap(m, r));
    const services = serviceRanges.filter((r) => hits(r.range));
    const pods = podRanges.filter((r) => hits(r.range));
    const podsInside = pods.length > 0 ? [] : podIps.filter((x) => matched.some((m) => m.family === x.ip!.family && x.ip!.value >= m.first && x.ip!.value <= m.last));
    const where = `${policyLabel(rule.policy)} ${rule.direction}[${rule.index}]`;
    if (services.length > 0) {
      out.push(diagnostic('PC2012', `ipBlock ${peer.cidr} (${where}) covers the Service range ${services.map((s) => s.text).join(', ')}: Service IPs are translated to pod IPs before policy applies, so this never matches Service traffic. Select the pods behind the Service with podSelector/namespaceSelector`, peer.span, { data: { serviceCIDRs: services.map((s) => s.text) } }));
    } else if (pods.length > 0 || podsInside.length > 0) {
      const what = pods.length > 0 ? `the pod range ${pods.map((p) => p.text).join(', ')}` : `pod addresses (${sampleNames(podsInside.map((x) => `${podKey(x.pod)} ${formatIp(x.ip!)}`), 3)})`;
      out.push(diagnostic('PC2012', `ipBlock ${peer.cidr} (${where}) covers ${what}: whether ipBlocks match pod traffic depends on the network plugin, and pod IPs change. Select pods with podSelector/namespaceSelector, or add the pod range to \`except\``, peer.span, { data: { podCIDRs: pods.map((p) => p.text) } }));
    }
  }
  return out;
}
