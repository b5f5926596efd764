// Delegated IPAM (`ipam.type` set): the IPAM plugin gets our env and our stdin, in the
// config's version when it supports it, else in the highest one it supports that is not
// newer (see delegate-version.ts); its result, whatever its version, becomes our addresses.
import { CniCode, CniError } from '../errors.js';
import { execPlugin, findPlugin } from '../exec-plugin.js';
import { compareVersions } from '../versions.js';
import { familyOf, parseCidr, stripPrefix } from './cidr.js';
import { convertResult, pickVersion, stdinForVersion, supportedVersions } from './delegate-version.js';
import { type Allocation, gatewayFor, IPV6_GATEWAY } from './pod-ipam.js';

interface Delegate {
  binary: string;
  /** the version the delegate is called with */
  version: string;
  configVersion: string;
  stdin: string;
}

async function prepare(type: string, cniPath: string[], stdin: string): Promise<Delegate> {
  const binary = await findPlugin(type, cniPath);
  let conf: Record<string, unknown>;
  try {
    conf = JSON.parse(stdin) as Record<string, unknown>;
  } catch (err) {
    throw new CniError(CniCode.decodeFailure, 'network configuration is not valid JSON', (err as Error).message);
  }
  const configVersion = String(conf.cniVersion);
  const version = pickVersion(type, binary, configVersion, await supportedVersions(binary, cniPath));
  return { binary, version, configVersion, stdin: stdinForVersion(stdin, conf, version) };
}

export async function delegatedAdd(type: string, cniPath: string[], env: Record<string, string>, stdin: string): Promise<Allocation[]> {
  const d = await prepare(type, cniPath, stdin);
  const raw = await execPlugin(d.binary, 'ADD', env, d.stdin);
  const ips = raw === undefined ? [] : convertResult(raw, d.configVersion).ips ?? [];
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
  const d = await prepare(type, cniPath, stdin);
  await execPlugin(d.binary, 'DEL', env, d.stdin);
}

/** CHECK arrived in 0.4.0: a delegate called with an older version is not checked. */
export async function delegatedCheck(type: string, cniPath: string[], env: Record<string, string>, stdin: string): Promise<void> {
  const d = await prepare(type, cniPath, stdin);
  if (compareVersions(d.version, '0.4.0') < 0) return;
  await execPlugin(d.binary, 'CHECK', env, d.stdin);
}
