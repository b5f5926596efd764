// Version negotiation with a delegated IPAM plugin. We accept configs up to 1.1.0; a
// delegate may support less (Debian's host-local 1.1.1 stops at 1.0.0). So we ask it
// (`VERSION`, cached per binary for the daemon's life), call it with the config's version
// when it supports it, else with the highest version it supports that is not newer (only
// `cniVersion` rewritten, prevResult converted), and read its result whatever its format.
import { stat } from 'node:fs/promises';
import { CniCode, CniError } from '../errors.js';
import { execPlugin } from '../exec-plugin.js';
import { type CniResult, formatResult } from '../result.js';
import { compareVersions, LATEST_VERSION } from '../versions.js';

const VERSION_RE = /^\d+\.\d+\.\d+$/;

interface CacheEntry {
  /** the binary's identity when asked: a replaced or rebuilt plugin is asked again */
  stamp: string;
  versions: Promise<string[]>;
}

const cache = new Map<string, CacheEntry>();
let queries = 0;

/** How many times a delegate was exec'd with VERSION (for tests of the cache). */
export function versionQueries(): number {
  return queries;
}

/**
 * The delegate's supportedVersions, asked once per (path, mtime, inode, size). Concurrent
 * callers share one exec; a failed answer is not cached.
 */
export async function supportedVersions(binary: string, cniPath: string[]): Promise<string[]> {
  const st = await stat(binary).catch((err: Error) => {
    throw new CniError(CniCode.invalidEnvironment, `cannot stat IPAM plugin ${binary}`, err.message);
  });
  const stamp = `${st.mtimeMs}:${st.ino}:${st.size}`;
  const hit = cache.get(binary);
  if (hit && hit.stamp === stamp) return hit.versions;
  const versions = askVersion(binary, cniPath);
  const entry = { stamp, versions };
  cache.set(binary, entry);
  versions.catch(() => {
    if (cache.get(binary) === entry) cache.delete(binary);
  });
  return versions;
}

async function askVersion(binary: string, cniPath: string[]): Promise<string[]> {
  queries++;
  // libcni sends {"cniVersion": <its latest>} and no container variables
  const out = (await execPlugin(binary, 'VERSION', { CNI_PATH: cniPath.join(':') }, JSON.stringify({ cniVersion: LATEST_VERSION })).catch((err: unknown) => {
    if (err instanceof CniError) throw new CniError(err.code, `IPAM plugin ${binary} failed VERSION: ${err.msg}`, err.details);
    throw err;
  })) as { cniVersion?: unknown; supportedVersions?: unknown } | undefined;
  // as libcni decodes it: no cniVersion (or 0.1.0) means a 0.1.0-only plugin
  if (!out || typeof out !== 'object' || out.cniVersion === undefined || out.cniVersion === '0.1.0') return ['0.1.0'];
  const list = out.supportedVersions;
  if (!Array.isArray(list) || !list.length || list.some((v) => typeof v !== 'string')) {
    throw new CniError(CniCode.decodeFailure, `IPAM plugin ${binary} answered VERSION without a supportedVersions list`, JSON.stringify(out).slice(0, 300));
  }
  return (list as string[]).filter((v) => VERSION_RE.test(v));
}

/**
 * The version to call the delegate with: the config's own when supported, else the highest
 * supported one older than it. None: error 1 naming the plugin and both sides' versions.
 */
export function pickVersion(type: string, binary: string, configVersion: string, supported: string[]): string {
  if (supported.includes(configVersion)) return configVersion;
  const older = supported.filter((v) => compareVersions(v, configVersion) < 0).sort(compareVersions);
  const best = older[older.length - 1];
  if (best) return best;
  throw new CniError(
    CniCode.incompatibleVersion,
    `IPAM plugin ${type} supports no CNI version compatible with cniVersion ${configVersion}`,
    `${binary} supports ${supported.length ? supported.join(', ') : '(none)'}; the config needs ${configVersion} or older`,
  );
}

/** Our stdin for the delegate at `version`: unchanged when it is the config's version. */
export function stdinForVersion(stdin: string, conf: Record<string, unknown>, version: string): string {
  if (conf.cniVersion === version) return stdin;
  const out: Record<string, unknown> = { ...conf, cniVersion: version };
  if (out.prevResult !== undefined) {
    // prevResult (chaining) arrived in 0.3.0; older plugins have no use for it
    if (compareVersions(version, '0.3.0') < 0) delete out.prevResult;
    else out.prevResult = convertResult(out.prevResult, version);
  }
  return JSON.stringify(out);
}

/**
 * A result of any version (0.1.0/0.2.0 `ip4`/`ip6`, 0.3.x/0.4.0 with `ips[].version`, 1.x)
 * in the format of `version` (0.3.0 or later).
 */
export function convertResult(result: unknown, version: string): CniResult {
  const r = (result && typeof result === 'object' ? result : {}) as Record<string, unknown>;
  if (Array.isArray(r.ips) && r.ips.some((ip) => typeof (ip as { address?: unknown })?.address !== 'string')) {
    throw new CniError(CniCode.decodeFailure, 'result has an "ips" entry without an address', JSON.stringify(r.ips).slice(0, 300));
  }
  const formatted = formatResult(isLegacy(r) ? fromLegacy(r) : (r as unknown as CniResult), version);
  if (compareVersions(version, '1.1.0') >= 0) return formatted;
  // fields new in 1.1.0 (formatResult already drops interface mtu)
  return {
    ...formatted,
    interfaces: formatted.interfaces?.map((i) => omit(i, ['socketPath', 'pciID'])),
    routes: formatted.routes?.map((rt) => omit(rt, ['mtu', 'advmss', 'priority', 'table', 'scope'])),
  };
}

function isLegacy(r: Record<string, unknown>): boolean {
  return !Array.isArray(r.ips) && (r.ip4 !== undefined || r.ip6 !== undefined);
}

interface LegacyIp {
  ip?: string;
  gateway?: string;
  routes?: { dst: string; gw?: string }[];
}

/** 0.1.0/0.2.0: `ip4`/`ip6` objects with their own routes. */
function fromLegacy(r: Record<string, unknown>): CniResult {
  const out: CniResult = { cniVersion: String(r.cniVersion ?? '0.2.0'), ips: [], routes: [], dns: (r.dns as CniResult['dns']) ?? {} };
  for (const key of ['ip4', 'ip6'] as const) {
    const ip = r[key] as LegacyIp | undefined;
    if (!ip?.ip) continue;
    out.ips!.push({ address: ip.ip, ...(ip.gateway ? { gateway: ip.gateway } : {}) });
    for (const rt of ip.routes ?? []) out.routes!.push(rt);
  }
  return out;
}

function omit<T extends object>(o: T, keys: string[]): T {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k))) as T;
}
