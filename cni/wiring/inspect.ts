// CHECK: read the kernel state back (`ip -j`) and list every way it differs from what ADD
// reported. An empty list means no drift.
import type { CniResult } from '../result.js';
import { familyOf, stripPrefix } from '../ipam/cidr.js';
import { ipJson, type NetnsTarget, netnsTarget } from './netns.js';

interface IpLink { ifname: string; address?: string; mtu?: number; flags?: string[]; operstate?: string }
interface IpAddr { ifname: string; addr_info?: { local: string; prefixlen: number }[] }
interface IpRoute { dst: string; gateway?: string; dev?: string }

export interface ExpectedAttachment {
  host: NetnsTarget;
  podNetns: string;
  ifname: string;
  hostVeth: string;
  mtu: number;
  /** what ADD reported (prevResult in CHECK) */
  result: CniResult;
}

export async function findDrift(e: ExpectedAttachment): Promise<string[]> {
  const pod = netnsTarget(e.podNetns);
  const [podLink, podAddr, podRoutes4, podRoutes6, hostLink, hostRoutes4, hostRoutes6] = await Promise.all([
    ipJson<IpLink[]>(pod, ['link', 'show', 'dev', e.ifname]),
    ipJson<IpAddr[]>(pod, ['addr', 'show', 'dev', e.ifname]),
    ipJson<IpRoute[]>(pod, ['-4', 'route', 'show', 'dev', e.ifname]),
    ipJson<IpRoute[]>(pod, ['-6', 'route', 'show', 'dev', e.ifname]),
    ipJson<IpLink[]>(e.host, ['link', 'show', 'dev', e.hostVeth]),
    ipJson<IpRoute[]>(e.host, ['-4', 'route', 'show', 'dev', e.hostVeth]),
    ipJson<IpRoute[]>(e.host, ['-6', 'route', 'show', 'dev', e.hostVeth]),
  ]);
  const drift: string[] = [];
  const link = podLink?.[0];
  if (!link) return [`interface ${e.ifname} is missing in ${e.podNetns}`];
  if (!hostLink?.[0]) drift.push(`host interface ${e.hostVeth} is missing`);
  if (!link.flags?.includes('UP')) drift.push(`${e.ifname} is down`);
  if (link.mtu !== e.mtu) drift.push(`${e.ifname} mtu is ${link.mtu}, expected ${e.mtu}`);

  const ifaces = e.result.interfaces ?? [];
  const reported = ifaces.find((i) => i.name === e.ifname && i.sandbox);
  if (reported?.mac && link.address && reported.mac.toLowerCase() !== link.address.toLowerCase()) {
    drift.push(`${e.ifname} mac is ${link.address}, expected ${reported.mac}`);
  }
  const present = new Set((podAddr?.[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
  const routes = [...(podRoutes4 ?? []), ...(podRoutes6 ?? [])];
  const hostRoutes = new Set([...(hostRoutes4 ?? []), ...(hostRoutes6 ?? [])].map((r) => r.dst));
  const ourIndex = ifaces.indexOf(reported ?? { name: '' });
  const ourGateways = new Set<string>();
  for (const ipc of e.result.ips ?? []) {
    if (ipc.interface !== undefined && ipc.interface !== ourIndex) continue; // another plugin's
    if (ipc.gateway) ourGateways.add(ipc.gateway);
    if (!present.has(ipc.address)) drift.push(`address ${ipc.address} is missing on ${e.ifname}`);
    const ip = stripPrefix(ipc.address);
    if (!hostRoutes.has(ip) && !hostRoutes.has(ipc.address)) drift.push(`host route to ${ip} via ${e.hostVeth} is missing`);
  }
  // routes carry no interface index: check those through our gateways (others are another plugin's)
  for (const r of (e.result.routes ?? []).filter((r) => r.gw && ourGateways.has(r.gw))) {
    const fam = familyOf(stripPrefix(r.dst));
    const dst = r.dst === '0.0.0.0/0' || r.dst === '::/0' ? 'default' : r.dst;
    const found = routes.some((k) => (k.dst === dst || k.dst === r.dst) && (!r.gw || k.gateway === r.gw));
    if (fam && !found) drift.push(`route ${r.dst}${r.gw ? ` via ${r.gw}` : ''} is missing on ${e.ifname}`);
  }
  return drift;
}
