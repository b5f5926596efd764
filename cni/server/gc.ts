// GC (1.1.0): release every attachment of this network the runtime no longer lists in
// cni.dev/valid-attachments: addresses, endpoint records and veths, including those left
// by an ADD that crashed half-way. An empty list releases all.
import type { Attachment } from '../config.js';
import { CniCode, CniError } from '../errors.js';
import type { CniCall, CniContext } from './context.js';
import { queueTeardown, releaseAddresses } from './del.js';

const keyOf = (a: Attachment) => `${a.containerId}/${a.ifname}`;

export async function cmdGc(ctx: CniContext, call: CniCall): Promise<undefined> {
  const { conf, env } = call;
  if (!conf.validAttachments) {
    // refusing is safer than reading a missing list as "release everything"
    throw new CniError(CniCode.invalidConfig, 'GC needs "cni.dev/valid-attachments"', 'an empty list releases all attachments');
  }
  const valid = new Set(conf.validAttachments.map(keyOf));
  const stale = new Map<string, Attachment>();
  for (const ep of ctx.endpoints.list()) if (ep.network === conf.name && !valid.has(keyOf(ep))) stale.set(keyOf(ep), ep);
  if (!conf.ipamType) for (const o of await ctx.ipam.owners(conf.name)) if (!valid.has(keyOf(o))) stale.set(keyOf(o), o);

  const gone: Promise<void>[] = [];
  for (const a of stale.values()) {
    await ctx.attachments.run(keyOf(a), async () => {
      const delEnv = { ...env.raw, CNI_COMMAND: 'DEL', CNI_CONTAINERID: a.containerId, CNI_IFNAME: a.ifname, CNI_NETNS: '' };
      await releaseAddresses(ctx, call, delEnv).catch((e: Error) => ctx.log(`GC: releasing ${keyOf(a)}: ${e.message}`));
      gone.push((await queueTeardown(ctx, a, ctx.endpoints.get(a.containerId, a.ifname))).gone);
    });
  }
  ctx.log(`GC ${conf.name}: released ${stale.size} attachment(s)`);
  await Promise.all(gone); // GC is not latency-critical: return when the kernel is clean
  return undefined;
}
