// The "linear" lowering, for benchmarks only: one nft rule per (IR rule, subject address, peer
// address or CIDR, port), walked in order, as iptables-style implementations do (kube-router,
// early Calico). Same meaning as the identity tables (tiers, Pass, isolation, baseline), but
// per-packet cost grows with the number of rules and pods. Never used for enforcement.

import type { Cluster, ClusterPod } from '../../model/cluster.js';
import type { Peer, PortMatch, Program, Rule } from '../../ir/types.js';
import { cidrRange, formatIp, parseCidr, parseIp, rangeToCidrs, subtractRanges, type Family } from '../../ir/cidr.js';
import { selectorMatches } from '../../ir/selector.js';
import { podEndpoint } from '../../evaluate/endpoints.js';
import { groupMatches } from '../../evaluate/match.js';
import { PROTO_NUMBER } from '../decisions.js';
import { commentText, cookieHex, decidingRules, DEFAULT_TABLE, ruleChain, type NftOptions } from './ruleset.js';
import { replaceTable, type NftCommand, type NftDocument, type NftExpression, type NftStatement } from './schema.js';

export interface LinearCounts {
  readonly rules: number;
  readonly chains: number;
  /** Rules a new packet may traverse in the worst case (all policy rules of both directions). */
  readonly perPacketRulesWorst: number;
}

interface Address {
  readonly family: Family;
  readonly expr: NftExpression;
}

function hostAddress(text: string): Address | undefined {
  const ip = parseIp(text);
  return ip ? { family: ip.family, expr: formatIp(ip) } : undefined;
}

function podAddresses(pod: ClusterPod): Address[] {
  return pod.ips.map(hostAddress).filter((a): a is Address => !!a);
}

export function emitLinear(program: Program, cluster: Cluster, options: NftOptions = {}): { document: NftDocument; counts: LinearCounts } {
  const table = options.table ?? DEFAULT_TABLE;
  const family = 'inet' as const;
  const groups = new Map(program.groups.map((g) => [g.id, g]));
  const members = new Map<string, ClusterPod[]>();
  const membersOf = (groupId: string): ClusterPod[] => {
    let m = members.get(groupId);
    if (!m) {
      const g = groups.get(groupId);
      m = g ? cluster.pods.filter((p) => groupMatches(g, podEndpoint(cluster, p)).matched) : [];
      members.set(groupId, m);
    }
    return m;
  };
  const cmds: NftCommand[] = [
    ...replaceTable(table),
  ];
  const chains: string[] = ['forward'];
  const rules: NftCommand[] = [];
  const rule = (chain: string, expr: NftStatement[], comment?: string) =>
    rules.push({ add: { rule: comment ? { family, table, chain, comment: commentText(comment), expr } : { family, table, chain, expr } } });
  cmds.push({ add: { chain: { family, table, name: 'forward', type: 'filter', hook: 'forward', prio: options.priority ?? 0, policy: 'accept' } } });
  rule('forward', [{ match: { op: 'in', left: { ct: { key: 'state' } }, right: ['established', 'related'] } }, { accept: null }]);
  rule('forward', [{ match: { op: 'in', left: { ct: { key: 'state' } }, right: 'invalid' } }, { drop: null }]);
  rule('forward', [{ jump: { target: 'lin_egress' } }]);
  rule('forward', [{ jump: { target: 'lin_ingress' } }]);
  rule('forward', [{ accept: null }]);

  const addr = (f: Family, side: 'saddr' | 'daddr', a: NftExpression): NftStatement => ({ match: { op: '==', left: { payload: { protocol: f === 4 ? 'ip' : 'ip6', field: side } }, right: a } });

  let worst = 0;
  for (const d of ['egress', 'ingress'] as const) {
    const subjectSide = d === 'egress' ? 'saddr' : 'daddr';
    const peerSide = d === 'egress' ? 'daddr' : 'saddr';
    const admin = `lin_${d}`;
    const np = `lin_${d}_np`;
    const baseline = `lin_${d}_baseline`;
    chains.push(admin, np, baseline, `drop_isolated_${d}`);
    rule(`drop_isolated_${d}`, [{ counter: { packets: 0, bytes: 0 } }, { drop: null }], `isolated by NetworkPolicy (${d})`);
    const emitRule = (chain: string, r: Rule) => {
      const verdict: NftStatement = r.action === 'pass' ? { goto: { target: np } } : { goto: { target: ruleChain(r) } };
      for (const subject of membersOf(r.subject)) {
        for (const s of podAddresses(subject)) {
          for (const peer of r.peers) {
            for (const p of peerAddresses(peer, s.family)) {
              const destinations = d === 'ingress' ? [subject] : p.pod ? [p.pod] : [];
              for (const port of portMatches(r.ports, destinations)) {
                const expr: NftStatement[] = [addr(s.family, subjectSide, s.expr)];
                if (p.expr !== undefined) expr.push(addr(s.family, peerSide, p.expr));
                expr.push(...port, verdict);
                rule(chain, expr, r.id);
                worst++;
              }
            }
          }
        }
      }
    };
    const peerAddresses = (peer: Peer, f: Family): Array<{ expr?: NftExpression; pod?: ClusterPod }> => {
      switch (peer.kind) {
        case 'any':
          return [{}];
        case 'pods':
          return membersOf(peer.group).flatMap((pod) => podAddresses(pod).filter((a) => a.family === f).map((a) => ({ expr: a.expr, pod })));
        case 'cidr': {
          const c = parseCidr(peer.cidr);
          if (!c || c.family !== f) return [];
          const holes = peer.except.map(parseCidr).filter((x): x is NonNullable<typeof x> => !!x).map(cidrRange);
          return subtractRanges(cidrRange(c), holes)
            .flatMap(rangeToCidrs)
            .map((x) => ({ expr: { prefix: { addr: formatIp({ family: f, value: x.network }), len: x.prefix } } }));
        }
        case 'nodes':
          return cluster.nodes
            .filter((n) => selectorMatches(peer.selector, n.labels))
            .flatMap((n) => n.ips.map(hostAddress).filter((a): a is Address => !!a && a.family === f).map((a) => ({ expr: a.expr })));
      }
    };
    const dirRules = program.rules.filter((r) => r.direction === d);
    for (const r of dirRules.filter((x) => x.tier === 'admin')) emitRule(admin, r);
    rule(admin, [{ goto: { target: np } }]);
    for (const r of dirRules.filter((x) => x.tier === 'networkpolicy')) emitRule(np, r);
    const isolated = new Set<ClusterPod>();
    for (const p of program.policies) if (p.tier === 'networkpolicy' && p.isolates.includes(d)) for (const pod of membersOf(p.subject)) isolated.add(pod);
    for (const pod of [...isolated].sort((a, b) => (`${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1))) {
      for (const s of podAddresses(pod)) {
        rule(np, [addr(s.family, subjectSide, s.expr), { goto: { target: `drop_isolated_${d}` } }], `isolated ${pod.namespace}/${pod.name}`);
        worst++;
      }
    }
    rule(np, [{ goto: { target: baseline } }]);
    for (const r of dirRules.filter((x) => x.tier === 'baseline')) emitRule(baseline, r);
  }
  for (const r of decidingRules(program)) {
    const name = ruleChain(r);
    chains.push(name);
    rule(name, [{ counter: { packets: 0, bytes: 0 } }, r.action === 'allow' ? { return: null } : { drop: null }], `${r.id} ${cookieHex(r.cookie)}`);
  }
  for (const name of chains.slice(1)) cmds.push({ add: { chain: { family, table, name } } });
  for (const r of rules) cmds.push(r);
  return { document: { nftables: cmds }, counts: { rules: rules.length, chains: chains.length, perPacketRulesWorst: worst + 9 } };
}

/** One entry per matched port range: the l4proto/dport statements. undefined ports = every protocol. */
export function portMatches(ports: readonly PortMatch[] | undefined, destinations: readonly ClusterPod[]): NftStatement[][] {
  if (!ports) return [[]];
  const out: NftStatement[][] = [];
  const seen = new Set<string>();
  const add = (protocol: keyof typeof PROTO_NUMBER, from?: number, to?: number) => {
    const key = `${protocol}/${from}/${to}`;
    if (seen.has(key)) return;
    seen.add(key);
    const s: NftStatement[] = [{ match: { op: '==', left: { meta: { key: 'l4proto' } }, right: PROTO_NUMBER[protocol] } }];
    if (from !== undefined && to !== undefined) s.push({ match: { op: '==', left: { payload: { protocol: 'th', field: 'dport' } }, right: from === to ? from : { range: [from, to] } } });
    out.push(s);
  };
  for (const pm of ports) {
    if (pm.kind === 'all') add(pm.protocol);
    else if (pm.kind === 'range') add(pm.protocol, pm.from, pm.to);
    else {
      for (const pod of destinations) {
        for (const p of pod.ports) if (p.name === pm.name && (pm.protocol === undefined || pm.protocol === p.protocol)) add(p.protocol, p.port, p.port);
      }
    }
  }
  return out;
}
