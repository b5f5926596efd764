// Shared by the emit tests: random policy sets over random small clusters (fast-check), and the
// comparison of the emitted nftables tables (through NftInterpreter) with the reference evaluator.
// Not imported by the compiler itself.

import fc from 'fast-check';
import { compileSources, type Compilation } from '../compiler/compile.js';
import type { Protocol } from '../compiler/model/k8s-types.js';
import type { Cluster } from '../compiler/model/cluster.js';
import { parseIp } from '../compiler/ir/cidr.js';
import type { Direction } from '../compiler/ir/types.js';
import type { IdentityTable } from '../compiler/emit/identities.js';
import { podEndpoint, type Endpoint } from '../compiler/evaluate/endpoints.js';
import type { Evaluator } from '../compiler/evaluate/evaluator.js';
import { PROTO_NUMBER } from '../compiler/emit/decisions.js';
import { commentText } from '../compiler/emit/nftables/ruleset.js';
import type { NftInterpreter, SideOutcome } from '../compiler/emit/nftables/interpret.js';

export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

export function compileText(policies: string, snapshot: string): Compilation {
  return compileSources([
    { name: 'policies.yaml', text: policies },
    { name: 'snapshot.yaml', text: snapshot },
  ]);
}

/** What the reference evaluator says one side does, in the interpreter's terms. */
export function expectedSide(evaluator: Evaluator, direction: Direction, source: Endpoint, destination: Endpoint, protocol: Protocol, port: number): SideOutcome {
  const r = evaluator.evaluateDirection(direction, { source, destination, protocol, port });
  const d = r.decision;
  if (d.kind === 'rule') return { kind: 'rule', action: d.rule.action === 'allow' ? 'allow' : 'drop', chain: '', ruleId: commentText(d.rule.id) };
  if (d.kind === 'isolation') return { kind: 'isolated' };
  return { kind: 'continue' };
}

function strip(o: SideOutcome): unknown {
  return o.kind === 'rule' ? { kind: o.kind, action: o.action, ruleId: o.ruleId } : o;
}

export interface Mismatch {
  readonly flow: string;
  readonly direction: Direction;
  readonly expected: unknown;
  readonly got: unknown;
}

/** Compares both sides of one flow; returns the mismatches (empty when the table agrees). */
export function compareFlow(
  interp: NftInterpreter,
  evaluator: Evaluator,
  source: Endpoint,
  destination: Endpoint,
  protocol: Protocol,
  port: number,
): Mismatch[] {
  const srcIp = source.kind === 'pod' ? source.ip! : source.ip;
  const dstIp = destination.kind === 'pod' ? destination.ip! : destination.ip;
  const src = interp.identity('src', srcIp);
  const dst = interp.identity('dst', dstIp);
  const out: Mismatch[] = [];
  for (const direction of ['egress', 'ingress'] as const) {
    const expected = strip(expectedSide(evaluator, direction, source, destination, protocol, port));
    const got = strip(direction === 'egress' ? interp.side('egress', src, dst, PROTO_NUMBER[protocol], port) : interp.side('ingress', dst, src, PROTO_NUMBER[protocol], port));
    if (JSON.stringify(expected) !== JSON.stringify(got)) {
      out.push({ flow: `${describe(source)} -> ${describe(destination)} ${port}/${protocol}`, direction, expected, got });
    }
  }
  return out;
}

function describe(e: Endpoint): string {
  return e.kind === 'pod' ? `${e.pod.namespace}/${e.pod.name}(${e.ip})` : e.ip;
}

/** Pod endpoints per family (only pods with an address of that family). */
export function podEndpoints(cluster: Cluster, family: 4 | 6): Endpoint[] {
  const out: Endpoint[] = [];
  for (const pod of cluster.pods) {
    const ip = pod.ips.find((a) => parseIp(a)?.family === family);
    if (ip) out.push({ ...podEndpoint(cluster, pod, family), ip } as Endpoint);
  }
  return out;
}

/** Every pod pair and external address, both ways, for the given protocols and ports. */
export function compareAll(
  interp: NftInterpreter,
  evaluator: Evaluator,
  ports: readonly number[],
  externals: readonly string[],
  protocols: readonly Protocol[] = PROTOCOLS,
  limit = 20,
): { checked: number; mismatches: Mismatch[] } {
  const mismatches: Mismatch[] = [];
  let checked = 0;
  for (const family of [4, 6] as const) {
    const pods = podEndpoints(evaluator.cluster, family);
    // An address that is a pod's is that pod to the dataplane: not an external endpoint.
    const podAddresses = new Set(evaluator.cluster.pods.flatMap((p) => p.ips.map((a) => String(parseIp(a)?.value))));
    const ext: Endpoint[] = externals
      .filter((x) => parseIp(x)?.family === family && !podAddresses.has(String(parseIp(x)?.value)))
      .map((ip) => ({ kind: 'external', ip }));
    const pairs: Array<[Endpoint, Endpoint]> = [];
    for (const a of pods) for (const b of pods) pairs.push([a, b]);
    for (const a of pods) for (const x of ext) pairs.push([a, x], [x, a]);
    for (const [s, d] of pairs) {
      for (const protocol of protocols) {
        for (const port of ports) {
          checked++;
          const m = compareFlow(interp, evaluator, s, d, protocol, port);
          if (m.length > 0 && mismatches.length < limit) mismatches.push(...m);
        }
      }
    }
  }
  return { checked, mismatches };
}

// ---- random inputs

const POD_LABELS: Record<string, readonly string[]> = { app: ['web', 'db', 'api'], tier: ['fe', 'be'] };
const NS_LABELS: Record<string, readonly string[]> = { env: ['prod', 'dev'], 'kubernetes.io/metadata.name': ['x', 'y', 'z'] };
export const NAMED_PORTS = [
  { name: 'http', containerPort: 80, protocol: 'TCP' },
  { name: 'http', containerPort: 8080, protocol: 'TCP' },
  { name: 'dns', containerPort: 53, protocol: 'UDP' },
  { name: 'dns', containerPort: 53, protocol: 'TCP' },
  { name: 'metrics', containerPort: 9090, protocol: 'TCP' },
  { name: 'sctp', containerPort: 3868, protocol: 'SCTP' },
] as const;
const PORT_NAMES = ['http', 'dns', 'metrics', 'sctp', 'nope'];
const IPBLOCKS = [
  { cidr: '10.0.0.0/24' },
  { cidr: '10.0.0.0/24', except: ['10.0.0.0/28'] },
  { cidr: '10.0.0.0/26', except: ['10.0.0.8/29', '10.0.0.32/30'] },
  { cidr: '10.0.0.32/27' },
  { cidr: '0.0.0.0/0', except: ['10.0.0.0/25'] },
  { cidr: '192.168.0.0/16' },
  { cidr: 'fd00::/64', except: ['fd00::/122'] },
  { cidr: '::/0' },
];
const NETWORKS = ['10.0.0.0/26', '10.0.0.16/28', '0.0.0.0/0', '192.168.0.0/24', 'fd00::/64'];

function labelsArb(pool: Record<string, readonly string[]>): fc.Arbitrary<Record<string, string>> {
  const entries = Object.entries(pool).map(([k, vs]) => fc.option(fc.constantFrom(...vs), { nil: undefined }).map((v) => [k, v] as const));
  return fc.tuple(...entries).map((kv) => Object.fromEntries(kv.filter(([, v]) => v !== undefined)) as Record<string, string>);
}

function selectorArb(pool: Record<string, readonly string[]>): fc.Arbitrary<Record<string, unknown>> {
  const keys = Object.keys(pool);
  const requirement = fc.constantFrom(...keys).chain((key) =>
    fc.oneof(
      fc.subarray([...pool[key]], { minLength: 1 }).map((values) => ({ key, operator: 'In', values })),
      fc.subarray([...pool[key]], { minLength: 1 }).map((values) => ({ key, operator: 'NotIn', values })),
      fc.constant({ key, operator: 'Exists' }),
      fc.constant({ key, operator: 'DoesNotExist' }),
    ),
  );
  return fc.oneof(
    fc.constant({}),
    fc.constantFrom(...keys).chain((k) => fc.constantFrom(...pool[k]).map((v) => ({ matchLabels: { [k]: v } }))),
    fc.array(requirement, { minLength: 1, maxLength: 2 }).map((matchExpressions) => ({ matchExpressions })),
  );
}

const protocolArb = fc.constantFrom('TCP', 'UDP', 'SCTP');
const npPortArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.tuple(protocolArb, fc.constantFrom(53, 80, 81, 443, 8080, 9090)).map(([protocol, port]) => ({ protocol, port })),
  fc.tuple(protocolArb, fc.constantFrom([80, 90], [1000, 2000], [50, 9000], [0, 100], [65000, 65535])).map(([protocol, [port, endPort]]) => ({ protocol, port: Math.max(1, port), endPort })),
  fc.tuple(protocolArb, fc.constantFrom(...PORT_NAMES)).map(([protocol, port]) => ({ protocol, port })),
  protocolArb.map((protocol) => ({ protocol })),
  fc.constant({ port: 80 }),
);

const npPeerArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  selectorArb(POD_LABELS).map((podSelector) => ({ podSelector })),
  selectorArb(NS_LABELS).map((namespaceSelector) => ({ namespaceSelector })),
  fc.tuple(selectorArb(NS_LABELS), selectorArb(POD_LABELS)).map(([namespaceSelector, podSelector]) => ({ namespaceSelector, podSelector })),
  fc.constantFrom(...IPBLOCKS).map((ipBlock) => ({ ipBlock })),
);

function npRuleArb(peerKey: 'from' | 'to'): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .tuple(fc.option(fc.array(npPeerArb, { minLength: 1, maxLength: 2 }), { nil: undefined }), fc.option(fc.array(npPortArb, { minLength: 1, maxLength: 2 }), { nil: undefined }))
    .map(([peers, ports]) => {
      const r: Record<string, unknown> = {};
      if (peers) r[peerKey] = peers;
      if (ports) r.ports = ports;
      return r;
    });
}

const networkPolicyArb = fc
  .record({
    namespace: fc.constantFrom('x', 'y', 'z'),
    podSelector: selectorArb(POD_LABELS),
    types: fc.constantFrom(undefined, ['Ingress'], ['Egress'], ['Ingress', 'Egress']),
    ingress: fc.option(fc.array(npRuleArb('from'), { maxLength: 2 }), { nil: undefined }),
    egress: fc.option(fc.array(npRuleArb('to'), { maxLength: 2 }), { nil: undefined }),
  })
  .map((p) => {
    const spec: Record<string, unknown> = { podSelector: p.podSelector };
    if (p.types) spec.policyTypes = p.types;
    if (p.ingress) spec.ingress = p.ingress;
    if (p.egress) spec.egress = p.egress;
    return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: p.namespace }, spec };
  });

const anpPortArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.tuple(protocolArb, fc.constantFrom(53, 80, 443, 9090)).map(([protocol, port]) => ({ portNumber: { protocol, port } })),
  fc.tuple(protocolArb, fc.constantFrom([80, 90], [1000, 2000], [50, 9000])).map(([protocol, [start, end]]) => ({ portRange: { protocol, start, end } })),
  fc.constantFrom(...PORT_NAMES).map((namedPort) => ({ namedPort })),
);

const anpPodPeerArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  selectorArb(NS_LABELS).map((namespaces) => ({ namespaces })),
  fc.tuple(selectorArb(NS_LABELS), selectorArb(POD_LABELS)).map(([namespaceSelector, podSelector]) => ({ pods: { namespaceSelector, podSelector } })),
);
const anpEgressPeerArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  anpPodPeerArb,
  fc.subarray(NETWORKS, { minLength: 1, maxLength: 2 }).map((networks) => ({ networks })),
  selectorArb({ role: ['a', 'b'] }).map((nodes) => ({ nodes })),
);

function anpRuleArb(actions: readonly string[], direction: 'ingress' | 'egress'): fc.Arbitrary<Record<string, unknown>> {
  const peerKey = direction === 'ingress' ? 'from' : 'to';
  return fc
    .tuple(
      fc.constantFrom(...actions),
      fc.array(direction === 'ingress' ? anpPodPeerArb : anpEgressPeerArb, { minLength: 1, maxLength: 2 }),
      fc.option(fc.array(anpPortArb, { minLength: 1, maxLength: 2 }), { nil: undefined }),
    )
    .map(([action, peers, ports]) => {
      const r: Record<string, unknown> = { action, [peerKey]: peers };
      // The API rejects named ports next to networks/nodes peers (they have no named ports).
      const addressPeers = peers.some((p) => 'networks' in p || 'nodes' in p);
      const usable = ports?.filter((p) => !(addressPeers && 'namedPort' in p));
      if (usable && usable.length > 0) r.ports = usable;
      return r;
    });
}

const anpSubjectArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  selectorArb(NS_LABELS).map((namespaces) => ({ namespaces })),
  fc.tuple(selectorArb(NS_LABELS), selectorArb(POD_LABELS)).map(([namespaceSelector, podSelector]) => ({ pods: { namespaceSelector, podSelector } })),
);

function adminArb(kind: 'AdminNetworkPolicy' | 'BaselineAdminNetworkPolicy'): fc.Arbitrary<Record<string, unknown>> {
  const actions = kind === 'AdminNetworkPolicy' ? ['Allow', 'Deny', 'Pass'] : ['Allow', 'Deny'];
  return fc
    .record({
      priority: fc.integer({ min: 0, max: 9 }),
      subject: anpSubjectArb,
      ingress: fc.array(anpRuleArb(actions, 'ingress'), { maxLength: 3 }),
      egress: fc.array(anpRuleArb(actions, 'egress'), { maxLength: 3 }),
    })
    .map((p) => {
      const spec: Record<string, unknown> = { subject: p.subject };
      if (kind === 'AdminNetworkPolicy') spec.priority = p.priority;
      if (p.ingress.length > 0) spec.ingress = p.ingress;
      if (p.egress.length > 0) spec.egress = p.egress;
      return { apiVersion: 'policy.networking.k8s.io/v1alpha1', kind, metadata: {}, spec };
    });
}

export interface RandomCase {
  readonly policies: string;
  readonly snapshot: string;
  /** Ports worth probing: boundaries of every port and range, named ports, 0 and 65535. */
  readonly ports: readonly number[];
  readonly externals: readonly string[];
}

const podArb = fc.record({
  namespace: fc.constantFrom('x', 'y', 'z'),
  labels: labelsArb(POD_LABELS),
  ports: fc.subarray([...NAMED_PORTS], { maxLength: 3 }),
  v6: fc.boolean(),
});

export const randomCaseArb: fc.Arbitrary<RandomCase> = fc
  .record({
    namespaces: fc.tuple(labelsArb({ env: NS_LABELS.env }), labelsArb({ env: NS_LABELS.env }), labelsArb({ env: NS_LABELS.env })),
    pods: fc.array(podArb, { minLength: 1, maxLength: 6 }),
    addresses: fc.uniqueArray(fc.integer({ min: 1, max: 70 }), { minLength: 6, maxLength: 6 }),
    nodes: fc.array(labelsArb({ role: ['a', 'b'] }), { maxLength: 2 }),
    nps: fc.array(networkPolicyArb, { maxLength: 3 }),
    anps: fc.array(adminArb('AdminNetworkPolicy'), { maxLength: 3 }),
    banp: fc.option(adminArb('BaselineAdminNetworkPolicy'), { nil: undefined }),
  })
  .map((r) => {
    const items: unknown[] = [];
    ['x', 'y', 'z'].forEach((ns, i) => items.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: r.namespaces[i] } }));
    r.pods.forEach((p, i) => {
      const ips = [`10.0.0.${r.addresses[i]}`, ...(p.v6 ? [`fd00::${r.addresses[i].toString(16)}`] : [])];
      items.push({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `p${i}`, namespace: p.namespace, labels: p.labels },
        spec: { containers: [{ name: 'c', ports: p.ports.map((x) => ({ ...x })) }] },
        status: { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) },
      });
    });
    r.nodes.forEach((labels, i) => items.push({ apiVersion: 'v1', kind: 'Node', metadata: { name: `n${i}`, labels }, status: { addresses: [{ type: 'InternalIP', address: `192.168.0.${i + 1}` }] } }));
    const policies: unknown[] = [];
    r.nps.forEach((p, i) => policies.push({ ...p, metadata: { ...(p.metadata as object), name: `np${i}` } }));
    r.anps.forEach((p, i) => policies.push({ ...p, metadata: { name: `anp${i}` }, spec: { ...(p.spec as object), priority: (p.spec as { priority: number }).priority * 10 + i } }));
    if (r.banp) policies.push({ ...r.banp, metadata: { name: 'default' } });
    const ports = new Set<number>([0, 1, 65535, 53, 80, 8080, 9090, 3868]);
    const text = JSON.stringify(policies);
    for (const m of text.matchAll(/"(?:port|endPort|start|end)":(\d+)/g)) {
      const n = Number(m[1]);
      for (const v of [n - 1, n, n + 1]) if (v >= 0 && v <= 65535) ports.add(v);
    }
    return {
      policies: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: policies }),
      snapshot: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }),
      ports: [...ports].sort((a, b) => a - b),
      externals: ['10.0.0.200', '10.0.0.9', '10.0.0.33', '8.8.8.8', '192.168.0.1', '192.168.0.2', '192.168.7.7', 'fd00::ffff', '2001:db8::1', 'fd00::1:0'],
    };
  });

/**
 * Identity ids of the given pods (`namespace/name`) by a pass over every address element: the
 * reference for the subjects of a node-local table (membership.ts finds them by pod name).
 */
export function podIdentities(table: Pick<IdentityTable, 'elements'>, pods: ReadonlySet<string>): Set<number> {
  const out = new Set<number>();
  for (const e of table.elements) if (e.pod !== undefined && pods.has(e.pod)) out.add(e.identity);
  return out;
}
