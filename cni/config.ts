// The network configuration from stdin (SPEC.md "Network configuration" plus our fields),
// decoded and validated once. Bad JSON -> 6, bad fields -> 7, unsupported version -> 1.
import { CniCode, CniError } from './errors.js';
import { type Cidr, familyOf, parseCidr } from './ipam/cidr.js';
import type { CniResult } from './result.js';
import { isSupportedVersion, SUPPORTED_VERSIONS } from './versions.js';

export interface Attachment {
  containerId: string;
  ifname: string;
}

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  /** Own IPAM ranges (one per family); empty when IPAM is delegated. */
  podCidrs: Cidr[];
  /** Set when `ipam.type` names a plugin to exec. */
  ipamType?: string;
  mtu: number;
  /** runtimeConfig.ips: specific addresses requested by the runtime (the `ips` capability). */
  requestedIps: string[];
  prevResult?: CniResult;
  /** GC: attachments still in use (`cni.dev/valid-attachments`, or the older `cni.dev/attachments`). */
  validAttachments?: Attachment[];
  /** The config as received, for delegation. */
  raw: Record<string, unknown>;
}

const VXLAN_OVERHEAD = 50;
const DEFAULT_MTU = 1500;

/** Decodes just enough to answer in the right version even when the rest is invalid. */
export function peekVersion(stdin: string): string | undefined {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

export function parseNetConf(stdin: string): NetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(CniCode.decodeFailure, 'network configuration is not valid JSON', (err as Error).message);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CniError(CniCode.decodeFailure, 'network configuration must be a JSON object');
  }
  const conf = raw as Record<string, unknown>;
  const version = conf.cniVersion;
  if (typeof version !== 'string' || !isSupportedVersion(version)) {
    throw new CniError(CniCode.incompatibleVersion, 'incompatible CNI version', `config has cniVersion ${JSON.stringify(version ?? null)}; supported: ${SUPPORTED_VERSIONS.join(', ')}`);
  }
  const problems: string[] = [];
  const name = conf.name;
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) problems.push('"name" must be a non-empty string of letters, digits, _ . -');
  if (typeof conf.type !== 'string' || !conf.type) problems.push('"type" must be a non-empty string');

  const ipam = conf.ipam;
  let ipamType: string | undefined;
  if (ipam !== undefined) {
    if (typeof ipam !== 'object' || ipam === null) problems.push('"ipam" must be an object');
    else if ((ipam as { type?: unknown }).type !== undefined) {
      const t = (ipam as { type?: unknown }).type;
      if (typeof t !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(t)) problems.push('"ipam.type" must name a plugin binary');
      else ipamType = t;
    }
  }
  const podCidrs = parsePodCidrs(conf.podCIDR, problems);
  if (!ipamType && podCidrs.length === 0 && conf.podCIDR === undefined) problems.push('set "podCIDR" (own IPAM) or "ipam.type" (delegated IPAM)');

  const overlay = conf.overlay;
  if (overlay !== undefined && overlay !== 'vxlan' && overlay !== 'none') problems.push('"overlay" must be "vxlan" or "none"');
  const mtu = conf.mtu ?? (overlay === 'vxlan' ? DEFAULT_MTU - VXLAN_OVERHEAD : DEFAULT_MTU);
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 68 || mtu > 65535) problems.push('"mtu" must be an integer from 68 to 65535');

  const requestedIps = parseRequestedIps(conf.runtimeConfig, problems);
  const prevResult = conf.prevResult;
  if (prevResult !== undefined && (typeof prevResult !== 'object' || prevResult === null || Array.isArray(prevResult))) {
    problems.push('"prevResult" must be an object');
  }
  const validAttachments = parseAttachments(conf, problems);

  if (problems.length) throw new CniError(CniCode.invalidConfig, 'invalid network configuration', problems.join('; '));
  return {
    cniVersion: version,
    name: name as string,
    type: conf.type as string,
    podCidrs: ipamType ? [] : podCidrs,
    ipamType,
    mtu: mtu as number,
    requestedIps,
    prevResult: prevResult as CniResult | undefined,
    validAttachments,
    raw: conf,
  };
}

function parsePodCidrs(value: unknown, problems: string[]): Cidr[] {
  if (value === undefined) return [];
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : value;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string')) {
    problems.push('"podCIDR" must be a CIDR string or a list of them (at most one IPv4 and one IPv6)');
    return [];
  }
  const cidrs: Cidr[] = [];
  for (const text of list as string[]) {
    try {
      const c = parseCidr(text);
      if ((c.family === 4 && c.prefix > 30) || (c.family === 6 && c.prefix > 126)) throw new Error(`'${text}' is too small for pods`);
      if (cidrs.some((o) => o.family === c.family)) throw new Error(`more than one IPv${c.family} range`);
      cidrs.push(c);
    } catch (err) {
      problems.push(`"podCIDR": ${(err as Error).message}`);
    }
  }
  return cidrs;
}

function parseRequestedIps(runtimeConfig: unknown, problems: string[]): string[] {
  if (runtimeConfig === undefined || runtimeConfig === null) return [];
  const ips = (runtimeConfig as { ips?: unknown }).ips;
  if (ips === undefined) return [];
  if (!Array.isArray(ips) || ips.some((ip) => typeof ip !== 'string' || !familyOf(ip.split('/')[0] ?? ''))) {
    problems.push('"runtimeConfig.ips" must be a list of IP addresses');
    return [];
  }
  return (ips as string[]).map((ip) => ip.split('/')[0] as string);
}

function parseAttachments(conf: Record<string, unknown>, problems: string[]): Attachment[] | undefined {
  const list = conf['cni.dev/valid-attachments'] ?? conf['cni.dev/attachments'];
  if (list === undefined) return undefined;
  if (!Array.isArray(list)) {
    problems.push('"cni.dev/valid-attachments" must be a list');
    return undefined;
  }
  const out: Attachment[] = [];
  for (const a of list) {
    const id = (a as { containerID?: unknown })?.containerID;
    const ifname = (a as { ifname?: unknown })?.ifname;
    if (typeof id !== 'string' || typeof ifname !== 'string') problems.push('each valid attachment needs string "containerID" and "ifname"');
    else out.push({ containerId: id, ifname });
  }
  return out;
}
