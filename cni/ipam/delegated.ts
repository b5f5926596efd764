// Delegated IPAM (`ipam.type` set): the IPAM plugin gets our stdin and env unchanged and
// its result (in the config's version) becomes our addresses.
import { CniCode, CniError } from '../errors.js';
import { execPlugin, findPlugin } from '../exec-plugin.js';
import type { CniResult } from '../result.js';
import { familyOf, parseCidr, stripPrefix } from './cidr.js';
import { type Allocation, gatewayFor, IPV6_GATEWAY } from './pod-ipam.js';

export async function delegatedAdd(type: string, cniPath: string[], env: Record<string, string>, stdin: string): Promise<Allocation[]> {
  const result = (await execPlugin(await findPlugin(type, cniPath), 'ADD', env, stdin)) as CniResult | undefined;
  const ips = result?.ips ?? [];
  if (!ips.length) throw new CniError(CniCode.ipamFailed, `IPAM plugin ${type} returned no addresses`);
  return ips.map((ipc) => {
    const ip = stripPrefix(ipc.address);
    const family = familyOf(ip);
    if (!family) throw new CniError(CniCode.ipamFailed, `IPAM plugin ${type} returned a bad address`, ipc.address);
    // we route, not bridge: the pod keeps a /32 (/128) and reaches the node via the gateway
    const gateway = family === 6 ? IPV6_GATEWAY : ipc.gateway ?? gatewayFor(parseCidr(ipc.address));
    return { ip, family, address: `${ip}/${family === 4 ? 32 : 128}`, gateway };
  });
}

export async function delegatedDel(type: string, cniPath: string[], env: Record<string, string>, stdin: string): Promise<void> {
  await execPlugin(await findPlugin(type, cniPath), 'DEL', env, stdin);
}

