// The rulesets one judging node of bench/dataplane-throughput.ts loads for the benchmark flow:
// our node-local table (emitNftables with `localPods`, exactly what `policyc daemon --node-name`
// computes for the node) and the per-peer linear lowering restricted to the node's pods
// (bench/dataplane-linear.ts). Each is checked offline before anything is loaded: the node must
// accept the flow, and decide the sides it judges by the evaluator's rules (our table: through the
// allow chain of that rule, NftInterpreter).
import type { Cluster, ClusterPod } from '../compiler/model/cluster.js';
import type { Program, Rule } from '../compiler/ir/types.js';
import type { Membership } from '../compiler/emit/membership.js';
import { emitNftables, type NftCounts } from '../compiler/emit/nftables/ruleset.js';
import { NftInterpreter, type PacketOutcome } from '../compiler/emit/nftables/interpret.js';
import type { NftDocument } from '../compiler/emit/nftables/schema.js';
import { planLinear, traverseDocument, type LinearPacket, type LinearPlan } from './dataplane-linear.js';
import type { BenchFlow } from './dataplane-policies.js';
import type { JudgingNode } from './dataplane-topology.js';

export interface NodeTables {
  readonly node: JudgingNode;
  readonly ours: NftDocument;
  readonly membership: Membership | undefined;
  readonly counts: NftCounts;
  readonly emitSeconds: number;
  /** Our table's verdict on the flow (and which identities it saw). */
  readonly ourFlow: PacketOutcome;
  /** Rules the flow's first packet walks in our table (NftInterpreter, rule by rule). */
  readonly ourPerPacket: number;
  /** Does this node's table drop the denied port? (one judging node must) */
  readonly ourDropsDenied: boolean;
  readonly linear: LinearPlan;
  readonly linearSeconds: number;
  readonly linearDropsDenied: boolean;
}

export interface NodeTableOptions {
  readonly table: string;
  readonly linearTable: string;
  readonly linearCap: number;
  /** 'cluster': every node loads the cluster-wide table (emitNftables(program, cluster), emitLinear). */
  readonly scope: 'node' | 'cluster';
}

const since = (t: number) => (performance.now() - t) / 1000;

export function ruleOfSide(flow: BenchFlow, side: 'egress' | 'ingress'): Rule {
  return side === 'egress' ? flow.egressRule : flow.ingressRule;
}

export function buildNodeTables(program: Program, cluster: Cluster, members: ReadonlyMap<string, readonly ClusterPod[]>, flow: BenchFlow, node: JudgingNode, options: NodeTableOptions): NodeTables {
  const localPods = options.scope === 'node' ? node.localPods : undefined;
  const packet: LinearPacket = { family: 4, saddr: flow.clientIp, daddr: flow.serverIp, proto: 6, dport: flow.port };

  let t = performance.now();
  const e = emitNftables(program, cluster, { table: options.table, ...(localPods ? { localPods } : {}) });
  const emitSeconds = since(t);
  const interp = new NftInterpreter(e.document, options.table);
  const ourFlow = interp.packet(flow.clientIp, flow.serverIp, 6, flow.port);
  const ruleIdOf = (s: PacketOutcome['egress'] | undefined) => (s && s.kind === 'rule' ? s.ruleId : s?.kind);
  const decidedRight = node.sides.every((side) => ruleIdOf(ourFlow[side]) === ruleOfSide(flow, side).id);
  if (!ourFlow.accepted || !decidedRight) throw new Error(`${node.label}: our table does not allow the flow by the evaluator's rules (${node.sides.join(', ')}): ${JSON.stringify(ourFlow)}`);
  const ourDropsDenied = !interp.packet(flow.clientIp, flow.serverIp, 6, flow.deniedPort).accepted;
  const ourPerPacket = interp.walk(flow.clientIp, flow.serverIp, 6, flow.port).rules;

  t = performance.now();
  const linear = planLinear(program, cluster, members, { table: options.linearTable, cap: options.linearCap, localPods, packet });
  const linearSeconds = since(t);
  if (linear.verdictFull !== 'accept' || traverseDocument(linear.document, options.linearTable, packet).verdict !== 'accept') throw new Error(`${node.label}: the linear chain does not accept the flow`);
  const linearDropsDenied = traverseDocument(linear.document, options.linearTable, { ...packet, dport: flow.deniedPort }).verdict === 'drop';

  return { node, ours: e.document, membership: e.membership, counts: e.counts, emitSeconds, ourFlow, ourPerPacket, ourDropsDenied, linear, linearSeconds, linearDropsDenied };
}
