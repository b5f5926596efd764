// The pod overlay between lab nodes: one VXLAN device per node netns (flannel-style L3):
//   - vxlan0 (VNI 42, UDP 4789, MTU 1450: 50 bytes of VXLAN/UDP/IP/Ethernet overhead on a
//     1500 underlay) holds the network address of the node's pod CIDR as a /32;
//   - for each peer node: a permanent FDB entry (peer's vxlan MAC -> peer's underlay IP), a
//     permanent neighbour (peer's overlay address -> peer's MAC) and a route to the peer's
//     pod CIDR via that address (onlink). No learning, no multicast, no ARP across the overlay.
// Works only inside the network namespaces it is given (`ip -n`, `bridge -n`).
import { ipBatch, must } from '../lab/run.js';

export interface OverlayNode {
  /** 1-based, stable: picks the device's MAC */
  index: number;
  netns: string;
  /** the node's underlay interface and its IPv4 address */
  underlayDev: string;
  underlayIp: string;
  /** the node's IPv4 pod CIDR, e.g. 10.244.1.0/24 */
  podCidr: string;
}

export interface OverlayOptions {
  device?: string;
  vni?: number;
  port?: number;
  mtu?: number;
}

export const VXLAN_MTU = 1450;

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

function peerLines(peer: OverlayNode, dev: string): string[] {
  const addr = overlayAddress(peer.podCidr);
  return [`neigh replace ${addr} lladdr ${vxlanMac(peer.index)} dev ${dev} nud permanent`, `route replace ${peer.podCidr} via ${addr} dev ${dev} onlink`];
}

/** Creates the device and the peer entries on every node. */
export async function setupOverlay(nodes: readonly OverlayNode[], options: OverlayOptions = {}): Promise<void> {
  const dev = options.device ?? 'vxlan0';
  const vni = options.vni ?? 42;
  const port = options.port ?? 4789;
  const mtu = options.mtu ?? VXLAN_MTU;
  await Promise.all(
    nodes.map(async (node) => {
      await ipBatch(node.netns, [
        `link add ${dev} address ${vxlanMac(node.index)} mtu ${mtu} type vxlan id ${vni} local ${node.underlayIp} dev ${node.underlayDev} dstport ${port} nolearning`,
        `addr add ${overlayAddress(node.podCidr)}/32 dev ${dev}`,
        `link set ${dev} up`,
      ]);
      const peers = nodes.filter((n) => n !== node);
      for (const peer of peers) await must('bridge', ['-n', node.netns, 'fdb', 'append', vxlanMac(peer.index), 'dev', dev, 'dst', peer.underlayIp, 'self', 'permanent']);
      await ipBatch(node.netns, peers.flatMap((p) => peerLines(p, dev)));
    }),
  );
}

/** The overlay as the kernel has it on one node (for tests and `lab status`). */
export async function describeOverlay(netns: string, device = 'vxlan0'): Promise<{ mtu: number; fdb: string[]; routes: string[] }> {
  const link = JSON.parse(await must('ip', ['-j', '-n', netns, 'link', 'show', device])) as Array<{ mtu: number }>;
  const fdb = (await must('bridge', ['-n', netns, 'fdb', 'show', 'dev', device])).split('\n').filter(Boolean);
  const routes = (JSON.parse(await must('ip', ['-j', '-n', netns, 'route', 'show', 'dev', device])) as Array<{ dst: string }>).map((r) => r.dst);
  return { mtu: link[0]?.mtu ?? 0, fdb, routes };
}
