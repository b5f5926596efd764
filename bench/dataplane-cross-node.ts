// The cross-node topology of bench/dataplane-throughput.ts (--topology cross-node): the client pod
// behind node A, the server pod behind node B, built with the lab's own code so the path is the
// one `policyc lab` runs:
//   - underlay: a bridge in its own namespace and one veth per node (ul0, 192.168.200.<i>/24),
//     dataplane/lab/topology.ts's createUnderlay/createNode (which also turn on forwarding and
//     switch rp_filter off inside the node namespaces only);
//   - overlay: dataplane/overlay/vxlan.ts's setupOverlay (vxlan0, VNI 42, UDP 4789, MTU 1450,
//     static FDB/neighbour entries, a route to the peer node's pod CIDR), with its
//     `policyc_overlay` table that keeps the encapsulation out of conntrack
//     (dataplane/overlay/untrack.ts) unless `untrackOverlay` is false: a bare kernel (no table
//     at all in the node namespaces) or the ablation with the outer packets tracked;
//   - pods: wired with the CNI's own `ip -batch` lines (cni/wiring/veth.ts hostBatch/podBatch):
//     a veth pair with the overlay MTU on both ends (1450, what the CNI picks for overlay vxlan),
//     the pod CIDR's first address as gateway on the host end, the pod's /32 and a default route.
// The pod IPs are the generated cluster's, inside their nodes' pod CIDRs, so the overlay routes
// are exactly the lab's. Every namespace is named pcbench-<random>-*, registered with
// bench/dataplane-net.ts before it is created and removed by its destroyAll(). Nothing is done in
// the caller's namespace: every command names its namespace.
import { addNetns, createNode, createUnderlay, underlayIp, UNDERLAY_DEV } from '../dataplane/lab/topology.js';
import { ipBatch } from '../dataplane/lab/run.js';
import { setupOverlay, VXLAN_MTU } from '../dataplane/overlay/vxlan.js';
import { gatewayFor } from '../cni/ipam/pod-ipam.js';
import { parseCidr } from '../cni/ipam/cidr.js';
import { hostBatch, podBatch } from '../cni/wiring/veth.js';
import { vethMacs } from '../cni/wiring/names.js';
import { loadGeneratorSysctls, registerNamespace } from './dataplane-net.js';

export interface CrossNodeTopology {
  readonly underlay: string;
  /** The client's node: judges the client's egress. */
  readonly clientNode: string;
  /** The server's node: judges the server's ingress. */
  readonly serverNode: string;
  readonly client: string;
  readonly server: string;
}

export interface CrossNodeSpec {
  readonly clientIp: string;
  readonly serverIp: string;
  /** The IPv4 pod CIDRs of the two pods' nodes (Node spec.podCIDR), e.g. 10.64.3.0/24. */
  readonly clientPodCidr: string;
  readonly serverPodCidr: string;
  /** Install the overlay's notrack table on both nodes (as the lab does). */
  readonly untrackOverlay: boolean;
}

/** Wires a pod into its node as the CNI plugin does for an overlay network. */
async function wirePod(node: string, pod: string, hostVeth: string, ip: string, podCidr: string): Promise<void> {
  const macs = vethMacs(`${pod}-${hostVeth}`, 'eth0');
  const plan = {
    host: { kind: 'named' as const, name: node },
    podNetns: pod,
    ifname: 'eth0',
    hostVeth,
    hostMac: macs.host,
    podMac: macs.pod,
    mtu: VXLAN_MTU,
    allocations: [{ ip, family: 4 as const, address: `${ip}/32`, gateway: gatewayFor(parseCidr(podCidr)) }],
  };
  await ipBatch(node, hostBatch(plan));
  await ipBatch(pod, podBatch(plan));
}

export async function createCrossNodeTopology(tag: string, index: number, spec: CrossNodeSpec): Promise<CrossNodeTopology> {
  if (!tag.startsWith('pcbench-')) throw new Error(`refusing namespace tag ${tag}`);
  if (spec.clientPodCidr === spec.serverPodCidr) throw new Error(`the two pods share the pod CIDR ${spec.clientPodCidr}: not on different nodes`);
  const t: CrossNodeTopology = { underlay: `${tag}-u${index}`, clientNode: `${tag}-a${index}`, serverNode: `${tag}-b${index}`, client: `${tag}-c${index}`, server: `${tag}-s${index}` };
  registerNamespace(t.underlay);
  await createUnderlay(t.underlay);
  const nodes = [
    { netns: t.clientNode, index: 1, underlayIp: underlayIp(1), podCidr: spec.clientPodCidr },
    { netns: t.serverNode, index: 2, underlayIp: underlayIp(2), podCidr: spec.serverPodCidr },
  ];
  for (const n of nodes) {
    registerNamespace(n.netns);
    await createNode(n, t.underlay);
  }
  await setupOverlay(
    nodes.map((n) => ({ index: n.index, netns: n.netns, underlayDev: UNDERLAY_DEV, underlayIp: n.underlayIp, podCidr: n.podCidr })),
    { untrackEncapsulation: spec.untrackOverlay },
  );
  for (const pod of [t.client, t.server]) {
    registerNamespace(pod);
    await addNetns(pod);
  }
  await wirePod(t.clientNode, t.client, 'vethclient', spec.clientIp, spec.clientPodCidr);
  await wirePod(t.serverNode, t.server, 'vethserver', spec.serverIp, spec.serverPodCidr);
  await loadGeneratorSysctls(t.client, t.server);
  return t;
}
