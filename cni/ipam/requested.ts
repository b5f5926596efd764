// The addresses a runtime asks for, from both places runtimes put them: the `ips`
// capability (runtimeConfig.ips, already validated with the config) and CNI_ARGS
// `IP=<ip>[,<ip>...]` (host-local's and static's convention, for runtimes without
// capabilities; a prefix length is accepted and ignored, pods get host routes).
// Written canonically (bigint round trip), so `fd00:0::5` and `fd00::5` are one request.
import { CniCode, CniError } from '../errors.js';
import { bigintToIp, familyOf, ipToBigint } from './cidr.js';

export function requestedAddresses(runtimeIps: readonly string[], cniArgs: Readonly<Record<string, string>>): string[] {
  const fromArgs = (cniArgs.IP ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = fromArgs.filter((ip) => !familyOf(ip.split('/')[0] ?? ''));
  if (bad.length) throw new CniError(CniCode.invalidEnvironment, 'CNI_ARGS IP must be a comma-separated list of IP addresses', bad.join(', '));
  const canonical = [...runtimeIps, ...fromArgs.map((ip) => ip.split('/')[0]!)].map((ip) => bigintToIp(ipToBigint(ip), familyOf(ip)!));
  return [...new Set(canonical)];
}
