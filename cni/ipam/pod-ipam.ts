// Our own IPAM over the node's pod CIDR(s): one address per family per attachment,
// round-robin from the last reservation (a released IP is not handed out again at once,
// so late packets and stale neighbour entries do not reach a new pod), or exactly the
// addresses the runtime asked for (`ips` capability, CNI_ARGS IP). A request names the
// families too: on a dual-stack node, asking for an IPv6 address only gives only that one
// (host-local would add an IPv4 address; a runtime that asks for an IPv6-only pod means it).
// All changes for one network are serialized; reservations survive restarts through IpamStore.
import { join } from 'node:path';
import type { Attachment } from '../config.js';
import { CniCode, CniError } from '../errors.js';
import { KeyedLock } from '../keyed-lock.js';
import { bigintToIp, bits, type Cidr, cidrContains, cidrSize, type Family, formatCidr, ipToBigint } from './cidr.js';
import { IpamStore } from './store.js';

export interface Allocation {
  ip: string;
  family: Family;
  /** "ip/32" or "ip/128": pods get a host route, not a shared subnet */
  address: string;
  gateway: string;
}

export const IPV6_GATEWAY = 'fe80::1';

/** The IPv4 gateway is the pod CIDR's first address, kept on every host veth (ptp-style). */
export function gatewayFor(cidr: Cidr): string {
  return cidr.family === 4 ? bigintToIp(cidr.base + 1n, 4) : IPV6_GATEWAY;
}

const ownerKey = (a: Attachment) => `${a.containerId}/${a.ifname}`;

class NetworkIpam {
  private loaded?: Promise<void>;
  private reservations = new Map<string, Attachment>();
  private last = new Map<Family, string>();
  private readonly store: IpamStore;

  constructor(dir: string) {
    this.store = new IpamStore(dir);
  }

  load(): Promise<void> {
    this.loaded ??= this.store.load().then((s) => {
      this.reservations = s.reservations;
      this.last = s.last;
    });
    return this.loaded;
  }

  async allocate(owner: Attachment, cidrs: Cidr[], requested: string[]): Promise<Allocation[]> {
    for (const ip of requested) {
      if (!cidrs.some((c) => cidrContains(c, ip))) {
        throw new CniError(CniCode.ipamFailed, `requested IP ${ip} is outside the pod CIDR`, cidrs.map(formatCidr).join(', '));
      }
    }
    const picked: Allocation[] = [];
    for (const cidr of rangesToServe(cidrs, requested)) {
      const want = requested.find((ip) => cidrContains(cidr, ip));
      const ip = want ?? this.nextFree(cidr);
      if (want && (this.reservations.has(want) || isReserved(cidr, ipToBigint(want)))) {
        const by = this.reservations.get(want);
        throw new CniError(CniCode.ipamFailed, `requested IP ${want} is not available`, by ? `reserved by ${ownerKey(by)}` : 'network, gateway or broadcast address');
      }
      if (!ip) throw new CniError(CniCode.ipamFailed, `no free address in ${formatCidr(cidr)}`);
      picked.push({ ip, family: cidr.family, address: `${ip}/${bits(cidr.family)}`, gateway: gatewayFor(cidr) });
    }
    // mark in memory, then persist; a failed write undoes both (no half reservation)
    for (const a of picked) this.reservations.set(a.ip, owner);
    try {
      await Promise.all(picked.map((a) => this.store.reserve(a.ip, owner)));
      await Promise.all(picked.map((a) => this.store.saveLast(a.family, a.ip)));
      for (const a of picked) this.last.set(a.family, a.ip);
    } catch (err) {
      await this.releaseIps(picked.map((a) => a.ip));
      throw new CniError(CniCode.ioFailure, 'cannot persist IP reservation', (err as Error).message);
    }
    return picked;
  }

  ipsOf(owner: Attachment): string[] {
    const key = ownerKey(owner);
    return [...this.reservations].filter(([, o]) => ownerKey(o) === key).map(([ip]) => ip);
  }

  owners(): Attachment[] {
    const seen = new Map<string, Attachment>();
    for (const o of this.reservations.values()) seen.set(ownerKey(o), o);
    return [...seen.values()];
  }

  async release(owner: Attachment): Promise<string[]> {
    const ips = this.ipsOf(owner);
    await this.releaseIps(ips);
    return ips;
  }

  async releaseIps(ips: string[]): Promise<void> {
    for (const ip of ips) this.reservations.delete(ip);
    await Promise.all(ips.map((ip) => this.store.release(ip)));
  }

  private nextFree(cidr: Cidr): string | undefined {
    const size = cidrSize(cidr);
    const last = this.last.get(cidr.family);
    const start = last && cidrContains(cidr, last) ? ipToBigint(last) - cidr.base + 1n : 0n;
    // scanning is bounded by the range, capped so a huge IPv6 range cannot stall the daemon
    const limit = size < 1_000_000n ? size : 1_000_000n;
    for (let i = 0n; i < limit; i++) {
      const off = (start + i) % size;
      const n = cidr.base + off;
      if (isReserved(cidr, n)) continue;
      const ip = bigintToIp(n, cidr.family);
      if (!this.reservations.has(ip)) return ip;
    }
    return undefined;
  }
}

/**
 * The ranges an attachment gets an address from: every range when nothing is requested,
 * else exactly those of the requested families (one address per family: two of one family
 * cannot both be the pod's address of that family).
 */
export function rangesToServe(cidrs: readonly Cidr[], requested: readonly string[]): Cidr[] {
  if (requested.length === 0) return [...cidrs];
  const wanted = cidrs.filter((c) => requested.some((ip) => cidrContains(c, ip)));
  for (const c of wanted) {
    const ofFamily = [...new Set(requested.filter((ip) => cidrContains(c, ip)))];
    if (ofFamily.length > 1) throw new CniError(CniCode.ipamFailed, `more than one IPv${c.family} address requested`, ofFamily.join(', '));
  }
  return wanted;
}

/** Network address, gateway (first address) and, for IPv4, broadcast are never handed out. */
function isReserved(cidr: Cidr, n: bigint): boolean {
  const off = n - cidr.base;
  if (off === 0n) return true;
  if (cidr.family === 4 && off === 1n) return true;
  return cidr.family === 4 && off === cidrSize(cidr) - 1n;
}

/** Own IPAM for every network this node serves, each under <stateDir>/ipam/<network>/. */
export class PodIpam {
  private readonly networks = new Map<string, NetworkIpam>();
  private readonly lock = new KeyedLock();

  constructor(private readonly stateDir: string) {}

  private network(name: string): NetworkIpam {
    let n = this.networks.get(name);
    if (!n) {
      n = new NetworkIpam(join(this.stateDir, 'ipam', name));
      this.networks.set(name, n);
    }
    return n;
  }

  /** Serialized per network: the check for a free IP and its reservation are one step. */
  private run<T>(network: string, work: (n: NetworkIpam) => Promise<T>): Promise<T> {
    return this.lock.run(network, async () => {
      const n = this.network(network);
      await n.load();
      return work(n);
    });
  }

  allocate(network: string, owner: Attachment, cidrs: Cidr[], requested: string[]): Promise<Allocation[]> {
    return this.run(network, (n) => n.allocate(owner, cidrs, requested));
  }

  release(network: string, owner: Attachment): Promise<string[]> {
    return this.run(network, (n) => n.release(owner));
  }

  ipsOf(network: string, owner: Attachment): Promise<string[]> {
    return this.run(network, async (n) => n.ipsOf(owner));
  }

  /** GC: release every reservation whose owner is not in `valid`; returns the owners released. */
  releaseAllExcept(network: string, valid: Attachment[]): Promise<Attachment[]> {
    const keep = new Set(valid.map(ownerKey));
    return this.run(network, async (n) => {
      const stale = n.owners().filter((o) => !keep.has(ownerKey(o)));
      for (const o of stale) await n.release(o);
      return stale;
    });
  }

  owners(network: string): Promise<Attachment[]> {
    return this.run(network, async (n) => n.owners());
  }
}

