// ADD: reserve addresses, record the endpoint, wire the veth, report. Any failure undoes
// what this call made (and only that), so a failed ADD leaves no IP, veth or record.
import { access } from 'node:fs/promises';
import type { Endpoint } from '../../dataplane/daemon/endpoints.js';
import { CniCode, CniError } from '../errors.js';
import { delegatedAdd } from '../ipam/delegated.js';
import type { Allocation } from '../ipam/pod-ipam.js';
import { requestedAddresses } from '../ipam/requested.js';
import { appendToResult, type CniResult, formatResult } from '../result.js';
import { hostVethName, vethMacs } from '../wiring/names.js';
import { wirePod } from '../wiring/veth.js';
import type { CniCall, CniContext } from './context.js';
import { releaseAddresses } from './del.js';

export function cmdAdd(ctx: CniContext, call: CniCall): Promise<CniResult> {
  const { env } = call;
  const hostVeth = hostVethName(env.containerId, env.ifname);
  return ctx.attachments.run(`${env.containerId}/${env.ifname}`, async () => {
    await ctx.teardown.settled(hostVeth); // an ADD right after DEL of the same pod
    const existing = ctx.endpoints.get(env.containerId, env.ifname);
    if (existing) {
      throw new CniError(CniCode.attachmentExists, `container ${env.containerId} already has ${env.ifname}`, `network ${existing.network}, phase ${existing.phase}`);
    }
    await access(env.netns).catch(() => {
      throw new CniError(CniCode.invalidEnvironment, 'CNI_NETNS does not exist', `CNI_NETNS=${env.netns}`);
    });
    const allocations = await allocate(ctx, call);
    const macs = vethMacs(env.containerId, env.ifname);
    const ep: Endpoint = {
      containerId: env.containerId,
      ifname: env.ifname,
      network: call.conf.name,
      netns: env.netns,
      namespace: env.args.K8S_POD_NAMESPACE,
      podName: env.args.K8S_POD_NAME,
      ips: allocations.map((a) => a.address),
      hostVeth,
      phase: 'creating',
    };
    try {
      await ctx.endpoints.put(ep);
      await wirePod(ctx.wirer, { host: ctx.host, podNetns: env.netns, ifname: env.ifname, hostVeth, hostMac: macs.host, podMac: macs.pod, mtu: call.conf.mtu, allocations });
      await ctx.endpoints.put({ ...ep, phase: 'ready' });
    } catch (err) {
      await undo(ctx, call).catch((e: Error) => ctx.log(`ADD ${env.containerId}: undo failed: ${e.message}`));
      throw err;
    }
    const ours = {
      interfaces: [
        { name: hostVeth, mac: macs.host, mtu: call.conf.mtu },
        { name: env.ifname, mac: macs.pod, sandbox: env.netns, mtu: call.conf.mtu },
      ],
      ips: allocations.map((a) => ({ address: a.address, gateway: a.gateway, interface: 1 })),
      routes: allocations.map((a) => ({ dst: a.family === 4 ? '0.0.0.0/0' : '::/0', gw: a.gateway })),
    };
    return formatResult(appendToResult(call.conf.prevResult, ours, call.conf.cniVersion), call.conf.cniVersion);
  });
}

async function allocate(ctx: CniContext, { env, conf, stdin }: CniCall): Promise<Allocation[]> {
  if (conf.ipamType) return delegatedAdd(conf.ipamType, env.path, env.raw, stdin);
  // requested families bound the result: IPv6 asked for alone gives an IPv6-only pod
  return ctx.ipam.allocate(conf.name, { containerId: env.containerId, ifname: env.ifname }, conf.podCidrs, requestedAddresses(conf.requestedIps, env.args));
}

async function undo(ctx: CniContext, call: CniCall): Promise<void> {
  await releaseAddresses(ctx, call, call.env.raw);
  await ctx.endpoints.delete(call.env.containerId, call.env.ifname);
}
