// CNI results (SPEC.md "Success") and their per-version shapes. Internally we hold the
// 1.x shape; formatResult adds what older versions need (`ips[].version` before 1.0.0).
import { familyOf } from './ipam/cidr.js';
import { compareVersions, hasIpVersionField } from './versions.js';

export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
  mtu?: number;
}

export interface CniIpConfig {
  address: string;
  gateway?: string;
  interface?: number;
  version?: '4' | '6';
}

export interface CniRoute {
  dst: string;
  gw?: string;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns?: CniDns;
}

/** The result in `version`'s format. */
export function formatResult(result: CniResult, version: string): CniResult {
  const withVersion = hasIpVersionField(version);
  // `mtu` on interfaces is new in 1.1.0; older readers may reject unknown fields
  const withMtu = compareVersions(version, '1.1.0') >= 0;
  return {
    cniVersion: version,
    interfaces: (result.interfaces ?? []).map(({ mtu, ...rest }) => (withMtu && mtu ? { ...rest, mtu } : rest)),
    ips: (result.ips ?? []).map(({ version: _v, ...rest }) =>
      withVersion ? { ...rest, version: familyOf(rest.address.split('/')[0] ?? '') === 6 ? '6' : '4' } : rest,
    ),
    routes: result.routes ?? [],
    dns: result.dns ?? {},
  };
}

/** Chaining: our interfaces are appended, so our ips index past prevResult's. */
export function appendToResult(prev: CniResult | undefined, ours: Required<Pick<CniResult, 'interfaces' | 'ips' | 'routes'>>, version: string): CniResult {
  const base = prev ?? { cniVersion: version };
  const offset = base.interfaces?.length ?? 0;
  return {
    cniVersion: version,
    interfaces: [...(base.interfaces ?? []), ...ours.interfaces],
    ips: [...(base.ips ?? []), ...ours.ips.map((ip) => (ip.interface === undefined ? ip : { ...ip, interface: ip.interface + offset }))],
    routes: [...(base.routes ?? []), ...ours.routes],
    dns: base.dns ?? {},
  };
}
