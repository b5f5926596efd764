// Nodes and the underlay: a netns per node, joined through a bridge that lives in its own
// netns (pl-<lab>-u); each node has one veth (ul0) on it with an underlay address. IP
// forwarding (per family the node has a pod CIDR of) is switched on inside the node namespaces
// only. The underlay itself is always IPv4: it carries the VXLAN overlay, whatever the pods are.
import { ipBatch, must, run, sysctlIn } from './run.js';

export const UNDERLAY_BRIDGE = 'br0';
export const UNDERLAY_DEV = 'ul0';
export const UNDERLAY_PREFIX = '192.168.200';

export const underlayIp = (index: number): string => `${UNDERLAY_PREFIX}.${index}`;

export async function addNetns(name: string): Promise<void> {
  await must('ip', ['netns', 'add', name]);
  await must('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
}

export async function delNetns(name: string): Promise<boolean> {
  return (await run('ip', ['netns', 'del', name])).ok;
}

export async function listNetns(): Promise<string[]> {
  const r = await run('ip', ['-j', 'netns', 'list']);
  if (!r.ok || !r.stdout.trim()) return [];
  return (JSON.parse(r.stdout) as Array<{ name: string }>).map((n) => n.name);
}

export async function createUnderlay(netns: string): Promise<void> {
  await addNetns(netns);
  await ipBatch(netns, [`link add ${UNDERLAY_BRIDGE} type bridge`, `link set ${UNDERLAY_BRIDGE} up`]);
}

export async function createNode(node: { netns: string; index: number; underlayIp: string; podCidr?: string; podCidr6?: string }, underlay: string): Promise<void> {
  await addNetns(node.netns);
  await sysctlIn(node.netns, {
    ...(node.podCidr ? { 'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.rp_filter': '0', 'net.ipv4.conf.default.rp_filter': '0' } : {}),
    // IPv6 pods: IPv6 forwarding too (inside the node netns only)
    ...(node.podCidr6 ? { 'net.ipv6.conf.all.forwarding': '1', 'net.ipv6.conf.default.forwarding': '1' } : {}),
  });
  const port = `n${node.index}`;
  await ipBatch(node.netns, [
    `link add ${UNDERLAY_DEV} type veth peer name ${port} netns ${underlay}`,
    `addr add ${node.underlayIp}/24 dev ${UNDERLAY_DEV}`,
    `link set ${UNDERLAY_DEV} up`,
  ]);
  await ipBatch(underlay, [`link set ${port} master ${UNDERLAY_BRIDGE}`, `link set ${port} up`]);
}
