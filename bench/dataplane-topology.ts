// Which node namespaces bench/dataplane-throughput.ts builds per configuration, and what each
// of them judges:
//   node        one node namespace between the two pods (bench/dataplane-net.ts); it judges both
//               sides of the flow, so its table holds the decisions of both pods' nodes;
//   cross-node  node A (the client's node) and node B (the server's node) joined by the lab's
//               underlay and VXLAN overlay (bench/dataplane-cross-node.ts); as a daemon started
//               with --node-name, each loads the table of its own pods: A judges the client's
//               egress, B the server's ingress. The overlay keeps its encapsulation out of
//               conntrack (dataplane/overlay/untrack.ts) unless `untrackOverlay` is false.
import type { Cluster } from '../compiler/model/cluster.js';
import type { Direction } from '../compiler/ir/types.js';
import type { BenchFlow } from './dataplane-policies.js';
import { createTopology } from './dataplane-net.js';
import { createCrossNodeTopology } from './dataplane-cross-node.js';
import { VXLAN_MTU } from '../dataplane/overlay/vxlan.js';

export type TopologyKind = 'node' | 'cross-node';

/** A node namespace of the topology that loads a ruleset. */
export interface JudgingNode {
  /** 'node', or 'A' / 'B' */
  readonly key: string;
  /** For reports, e.g. "node A (ip-172-20-0-3..., client's node)". */
  readonly label: string;
  /** The sides of the benchmark flow this node decides. */
  readonly sides: readonly Direction[];
  /** The pods whose decision rows its node-local table holds (namespace/name). */
  readonly localPods: ReadonlySet<string>;
}

/** The namespaces of one configuration. */
export interface BenchNet {
  readonly client: string;
  readonly server: string;
  /** JudgingNode.key -> its network namespace */
  readonly nodes: ReadonlyMap<string, string>;
}

function podsOn(cluster: Cluster, nodes: readonly (string | undefined)[]): Set<string> {
  return new Set(cluster.pods.filter((p) => nodes.includes(p.node)).map((p) => `${p.namespace}/${p.name}`));
}

export function judgingNodes(kind: TopologyKind, cluster: Cluster, flow: BenchFlow): JudgingNode[] {
  if (kind === 'node') {
    return [{ key: 'node', label: 'node', sides: ['egress', 'ingress'], localPods: podsOn(cluster, [flow.client.node, flow.server.node]) }];
  }
  return [
    { key: 'A', label: `node A (${flow.client.node}, the client's)`, sides: ['egress'], localPods: podsOn(cluster, [flow.client.node]) },
    { key: 'B', label: `node B (${flow.server.node}, the server's)`, sides: ['ingress'], localPods: podsOn(cluster, [flow.server.node]) },
  ];
}

function podCidrOf(cluster: Cluster, nodeName: string | undefined): string {
  const cidr = cluster.nodes.find((n) => n.name === nodeName)?.podCIDRs.find((c) => !c.includes(':'));
  if (!cidr) throw new Error(`node ${nodeName} has no IPv4 pod CIDR in the generated cluster`);
  return cidr;
}

export async function createBenchNet(kind: TopologyKind, tag: string, index: number, cluster: Cluster, flow: BenchFlow, options: { untrackOverlay: boolean }): Promise<BenchNet> {
  if (kind === 'node') {
    const t = await createTopology(tag, index, flow.clientIp, flow.serverIp);
    return { client: t.client, server: t.server, nodes: new Map([['node', t.node]]) };
  }
  const t = await createCrossNodeTopology(tag, index, {
    clientIp: flow.clientIp,
    serverIp: flow.serverIp,
    clientPodCidr: podCidrOf(cluster, flow.client.node),
    serverPodCidr: podCidrOf(cluster, flow.server.node),
    untrackOverlay: options.untrackOverlay,
  });
  return {
    client: t.client,
    server: t.server,
    nodes: new Map([
      ['A', t.clientNode],
      ['B', t.serverNode],
    ]),
  };
}

/** One line for the report: which topology ran. */
export function describeTopology(kind: TopologyKind, judging: readonly JudgingNode[]): string {
  if (kind === 'node') return 'node: client pod -> one node namespace (forward hook) -> server pod; that node judges both sides with the table of both pods\' nodes';
  const [a, b] = judging;
  return `cross-node: client pod behind ${a!.label}, server pod behind ${b!.label}; nodes joined by a bridged underlay and a VXLAN overlay (VNI 42, UDP 4789, pod MTU ${VXLAN_MTU}; the encapsulation untracked by the overlay's raw-priority notrack table, except in \`none\` and the tracked-overlay ablation); each node loads its node-local table (A judges the client's egress, B the server's ingress)`;
}
