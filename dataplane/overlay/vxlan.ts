// The pod overlay between lab nodes: one VXLAN device per node netns (flannel-style L3):
//   - vxlan0 (VNI 42, UDP 4789, MTU 1450: 50 bytes of VXLAN/UDP/IP/Ethernet overhead on a
//     1500 underlay) holds the network address of the node's pod CIDR as a /32;
//   - for each peer node: a permanent FDB entry (peer's vxlan MAC -> peer's underlay IP), a
//     permanent neighbour (peer's overlay address -> peer's MAC) and a route to the peer's
//     pod CIDR via that address (onlink). No learning, no multicast, no ARP across the overlay.
//   - a node with an IPv6 pod CIDR (dual-stack or IPv6-only): IPv6 rides the same IPv4 VXLAN.
//     vxlan0 gets a fixed link-local address (fe80::706c:<index>, nodad); each peer gets a
//     permanent neighbour for its link-local address (-> its MAC) and a route to its IPv6 pod
//     CIDR via that address. No neighbour discovery across the overlay either.
//   - each family is set up only where the node has a pod CIDR of it: an IPv6-only node's
//     vxlan0 has no IPv4 address and no IPv4 routes (the underlay stays IPv4).
//   - the encapsulation itself (UDP to the VXLAN port between the node's underlay address and its
//     peers') is not tracked by conntrack: `table inet policyc_overlay`, raw-priority notrack
//     (./untrack.ts, which says why). On by default; `untrackEncapsulation: false` leaves a
//     bare kernel (the benchmark's no-ruleset baseline, and its ablation with tracked packets).
//     There is no native-routing mode (pods always ride VXLAN), so nothing else to untrack.
// Works only inside the network namespaces it is given (`ip -n`, `bridge -n`).
import { ipBatch, must } from '../lab/run.js';
import { untrackEncapsulation } from './untrack.js';

export interface OverlayNode {
  /** 1-based, stable: picks the device's MAC */
  index: number;
  netns: string;
  /** the node's underlay interface and its IPv4 address */
  underlayDev: string;
  underlayIp: string;
  /** the node's IPv4 pod CIDR, e.g. 10.244.1.0/24 (absent on an IPv6-only node) */
  podCidr?: string;
  /** the node's IPv6 pod CIDR, e.g. fd00:10:244:1::/64 (absent on an IPv4-only node) */
  podCidr6?: string;
}

export interface OverlayOptions {
  device?: string;
  vni?: number;
  port?: number;
  mtu?: number;
  /** notrack the encapsulation on every node (./untrack.ts); default true */
  untrackEncapsulation?: boolean;
}

export const VXLAN_MTU = 1450;
/** The IANA VXLAN port, the overlay's default `dstport`. */
export const VXLAN_PORT = 4789;

export function vxlanMac(index: number): string {
  // locally administered unicast
  return `0e:70:6c:00:${((index >> 8) & 0xff).toString(16).padStart(2, '0')}:${(index & 0xff).toString(16).padStart(2, '0')}`;
}

/** The overlay address of a node: its pod CIDR's network address. */
export function overlayAddress(podCidr: string): string {
  const [ip, len] = podCidr.split('/');
  const bits = Number(len);
  const v = ip!.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const net = (v & mask) >>> 0;
  return [24, 16, 8, 0].map((s) => (net >>> s) & 0xff).join('.');
}

/** The IPv6 overlay address of a node: a fixed link-local address on its VXLAN device. */
export function overlayLinkLocal(index: number): string {
  return `fe80::706c:${index.toString(16)}`;
}

/** The neighbour and route entries for one peer, per family both ends have. */
function peerLines(node: OverlayNode, peer: OverlayNode, dev: string): string[] {
  const lines: string[] = [];
  if (node.podCidr && peer.podCidr) {
    const addr = overlayAddress(peer.podCidr);
    lines.push(`neigh replace ${addr} lladdr ${vxlanMac(peer.index)} dev ${dev} nud permanent`, `route replace ${peer.podCidr} via ${addr} dev ${dev} onlink`);
  }
  if (node.podCidr6 && peer.podCidr6) {
    const ll = overlayLinkLocal(peer.index);
    lines.push(`neigh replace ${ll} lladdr ${vxlanMac(peer.index)} dev ${dev} nud permanent`, `route replace ${peer.podCidr6} via ${ll} dev ${dev}`);
  }
  return lines;
}

/** Creates the device and the peer entries on every node. */
export async function setupOverlay(nodes: readonly OverlayNode[], options: OverlayOptions = {}): Promise<void> {
  const dev = options.device ?? 'vxlan0';
  const vni = options.vni ?? 42;
  const port = options.port ?? VXLAN_PORT;
  const mtu = options.mtu ?? VXLAN_MTU;
  await Promise.all(
    nodes.map(async (node) => {
      await ipBatch(node.netns, [
        `link add ${dev} address ${vxlanMac(node.index)} mtu ${mtu} type vxlan id ${vni} local ${node.underlayIp} dev ${node.underlayDev} dstport ${port} nolearning`,
        ...(node.podCidr ? [`addr add ${overlayAddress(node.podCidr)}/32 dev ${dev}`] : []),
        ...(node.podCidr6 ? [`addr add ${overlayLinkLocal(node.index)}/64 dev ${dev} nodad`] : []),
        `link set ${dev} up`,
      ]);
      const peers = nodes.filter((n) => n !== node);
      for (const peer of peers) await must('bridge', ['-n', node.netns, 'fdb', 'append', vxlanMac(peer.index), 'dev', dev, 'dst', peer.underlayIp, 'self', 'permanent']);
      const lines = peers.flatMap((p) => peerLines(node, p, dev));
      if (lines.length) await ipBatch(node.netns, lines);
      if ((options.untrackEncapsulation ?? true) && peers.length > 0) await untrackEncapsulation(node.netns, { local: node.underlayIp, peers: peers.map((p) => p.underlayIp), port });
    }),
  );
}

/** The overlay as the kernel has it on one node (for tests and `lab status`). */
export async function describeOverlay(netns: string, device = 'vxlan0'): Promise<{ mtu: number; fdb: string[]; routes: string[]; routes6: string[] }> {
  const link = JSON.parse(await must('ip', ['-j', '-n', netns, 'link', 'show', device])) as Array<{ mtu: number }>;
  const fdb = (await must('bridge', ['-n', netns, 'fdb', 'show', 'dev', device])).split('\n').filter(Boolean);
  const routes = (JSON.parse(await must('ip', ['-j', '-n', netns, 'route', 'show', 'dev', device])) as Array<{ dst: string }>).map((r) => r.dst);
  const routes6 = (JSON.parse(await must('ip', ['-j', '-6', '-n', netns, 'route', 'show', 'dev', device])) as Array<{ dst: string }>).map((r) => r.dst).filter((d) => !d.startsWith('fe80:'));
  return { mtu: link[0]?.mtu ?? 0, fdb, routes, routes6 };
}
