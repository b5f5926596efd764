// DEL: always succeeds for missing things (netns gone, empty CNI_NETNS, no prevResult,
// unknown id, second DEL). Addresses are released before replying; the veth is queued for
// batched kernel teardown (see wiring/teardown.ts) and its record stays 'deleting' on
// disk until then, so a restart finishes the job.
import type { Endpoint } from '../../dataplane/daemon/endpoints.js';
import type { Attachment } from '../config.js';
import { delegatedDel } from '../ipam/delegated.js';
import { hostVethName } from '../wiring/names.js';
import type { CniCall, CniContext } from './context.js';

export function cmdDel(ctx: CniContext, call: CniCall): Promise<undefined> {
  const { env } = call;
  return ctx.attachments.run(`${env.containerId}/${env.ifname}`, async () => {
    await releaseAddresses(ctx, call, env.raw);
    // the 'deleting' mark is on disk before we reply; the kernel work is not awaited
    await queueTeardown(ctx, { containerId: env.containerId, ifname: env.ifname }, ctx.endpoints.get(env.containerId, env.ifname));
    return undefined;
  });
}

/**
 * Releases the attachment's addresses: ours by owner, or the delegated IPAM plugin's DEL
 * with `env` (the request's own, or one GC makes up for a stale attachment).
 */
export async function releaseAddresses(ctx: CniContext, { conf, stdin, env }: CniCall, delEnv: Record<string, string>): Promise<void> {
  if (conf.ipamType) await delegatedDel(conf.ipamType, env.path, delEnv, stdin);
  else await ctx.ipam.release(conf.name, { containerId: delEnv.CNI_CONTAINERID ?? '', ifname: delEnv.CNI_IFNAME ?? '' });
}

/**
 * Marks the endpoint 'deleting' (persisted when this resolves) and queues its veth;
 * `gone` resolves when the veth and the record are gone. Used by DEL, GC and daemon start
 * (records left 'deleting' by a previous run).
 */
export async function queueTeardown(ctx: CniContext, a: Attachment, ep: Endpoint | undefined): Promise<{ gone: Promise<void> }> {
  if (ep && ep.phase !== 'deleting') await ctx.endpoints.put({ ...ep, phase: 'deleting' });
  // without a record there is normally no veth (the record is written before wiring), but a
  // wiped state dir must not leave one behind: the name is derived, so try anyway
  const hostVeth = ep?.hostVeth ?? hostVethName(a.containerId, a.ifname);
  return { gone: ctx.teardown.remove(hostVeth, () => ctx.endpoints.delete(a.containerId, a.ifname)) };
}
