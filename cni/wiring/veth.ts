// Wires one pod: a veth pair whose container end is created directly inside the pod netns
// under CNI_IFNAME; the host end carries the gateway and a route to the pod's /32; the pod
// gets its address, a route to the gateway and the default route via it.
//
// Two interchangeable ways to talk to the kernel:
//  - 'netlink': the policyc-wire helper, started once (no process start per ADD);
//  - 'ip': `ip -batch` once per namespace (two execs per ADD, ~6 ms of which the spawns
//    from Node are most), used when the helper is not built.
import { CniCode, CniError } from '../errors.js';
import { faultPoint } from '../faults.js';
import type { Allocation } from '../ipam/pod-ipam.js';
import { failedBatchLine, ipBatch, netnsArg, type NetnsTarget, netnsTarget, runIp } from './netns.js';
import { type WireHelper, WireHelperError } from './wire-helper.js';

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

/** A step failed; `created` says whether the veth pair exists (and must be removed). */
class StepError extends Error {
  constructor(
    readonly created: boolean,
    message: string,
  ) {
    super(message);
  }
}

export interface Wirer {
  readonly kind: 'netlink' | 'ip';
  host(p: WiringPlan): Promise<void>;
  pod(p: WiringPlan): Promise<void>;
  removeLink(host: NetnsTarget, name: string): Promise<void>;
  close(): Promise<void>;
}

export function netlinkWirer(helper: WireHelper): Wirer {
  const translate = (err: unknown): never => {
    if (err instanceof WireHelperError) throw new StepError(err.stage === 'config', err.message);
    throw err;
  };
  return {
    kind: 'netlink',
    host: (p) => helper.host(p.host, p.podNetns, p.hostVeth, p.ifname, p.mtu, p.hostMac, p.podMac, p.allocations).catch(translate),
    pod: (p) => helper.pod(p.podNetns, p.ifname, p.allocations).catch(translate),
    removeLink: (host, name) => helper.deleteLink(host, name),
    close: () => helper.close(),
  };
}

export const ipBatchWirer: Wirer = {
  kind: 'ip',
  async host(p) {
    const r = await ipBatch(p.host, hostBatch(p));
    // line 1 creates the pair: if it failed, nothing exists (and an existing pair is not ours)
    if (r.code !== 0) throw new StepError(failedBatchLine(r.stderr) !== 1, r.stderr.trim());
  },
  async pod(p) {
    const r = await ipBatch(netnsTarget(p.podNetns), podBatch(p));
    if (r.code !== 0) throw new StepError(true, r.stderr.trim());
  },
  async removeLink(host, name) {
    await runIp(host, ['link', 'del', name]);
  },
  close: async () => {},
};

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
export async function wirePod(wirer: Wirer, p: WiringPlan): Promise<void> {
  try {
    await wirer.host(p);
    await faultPoint('after-host-wiring');
    await wirer.pod(p);
  } catch (err) {
    if (!(err instanceof StepError)) throw err;
    if (err.created) await wirer.removeLink(p.host, p.hostVeth);
    throw new CniError(CniCode.wiringFailed, err.created ? 'cannot configure the pod interface' : 'cannot create the pod interface', err.message);
  }
}
