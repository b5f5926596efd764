// CHECK: the attachment must still look exactly like what ADD reported (prevResult).
import { CniCode, CniError } from '../errors.js';
import { delegatedCheck } from '../ipam/delegated.js';
import { findDrift } from '../wiring/inspect.js';
import { hostVethName } from '../wiring/names.js';
import type { CniCall, CniContext } from './context.js';

export async function cmdCheck(ctx: CniContext, call: CniCall): Promise<undefined> {
  const { env, conf } = call;
  if (!conf.prevResult) throw new CniError(CniCode.invalidConfig, 'CHECK needs prevResult', 'the runtime must pass the cached ADD result');
  const prevResult = conf.prevResult;
  return ctx.attachments.run(`${env.containerId}/${env.ifname}`, async () => {
    const ep = ctx.endpoints.get(env.containerId, env.ifname);
    if (!ep || ep.phase !== 'ready') {
      throw new CniError(CniCode.unknownContainer, `no attachment ${env.ifname} for container ${env.containerId}`, ep ? `phase ${ep.phase}` : 'never added or already deleted');
    }
    if (conf.ipamType) await delegatedCheck(conf.ipamType, env.path, env.raw, call.stdin);
    const drift = await findDrift({ host: ctx.host, podNetns: env.netns, ifname: env.ifname, hostVeth: hostVethName(env.containerId, env.ifname), mtu: conf.mtu, result: prevResult });
    if (drift.length) throw new CniError(CniCode.checkFailed, 'attachment drifted from prevResult', drift.join('; '));
    return undefined;
  });
}
