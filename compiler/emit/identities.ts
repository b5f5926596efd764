// Identities: every address the dataplane can see, classified by what the rules can observe.
//
// Cilium derives an identity from the labels some policy reads. We go one step coarser and
// still exact: two pods are indistinguishable to every rule when they
//   - are members of exactly the same groups (Program.groups: subjects and pod peers; this
//     already folds in namespace names, pod labels and namespace labels, and only the keys
//     selectors read: a high-cardinality label no selector reads never splits an identity,
//     and two label sets that every selector treats alike share one identity),
//   - resolve every named port that a rule references to the same (port, protocol) list,
//   - have addresses in the same "address class": the ipBlock/networks peers (cidr minus
//     except) and the ANP `nodes` peers that contain the address.
// So the identity key is (groups, referenced named ports, address class). A dual-stack pod whose
// two addresses fall in different address classes gets one identity per address. Addresses that
// are no pod's are "world": the address space, minus pod addresses, split at every CIDR/except
// boundary (range subtraction, so elements are disjoint) into identities by address class. A pod
// that is in no group and has no referenced named port is observably the same as a world
// address of its class and shares that identity (its address still gets its own element, so a
// later label change touches one element).
//
// Identity numbers are a 32-bit FNV-1a hash of the canonical key (never 0); collisions move to
// the next free value in sorted key order, and a previous assignment can be passed in so that
// identities that survive a change keep their number (the daemon then touches few elements).

import type { Cluster, ClusterPod } from '../model/cluster.js';
import { formatIp, parseCidr, parseIp, cidrRange, type Family, type IpRange } from '../ir/cidr.js';
import { fnv1a32 } from '../ir/hash.js';
import { selectorKey, selectorMatches, type Selector } from '../ir/selector.js';
import type { Group, Peer, Program } from '../ir/types.js';
import { podEndpoint, type Endpoint } from '../evaluate/endpoints.js';
import { groupMatches } from '../evaluate/match.js';

export interface Identity {
  /** Small stable u32, never 0. */
  readonly id: number;
  /** Canonical key: what the rules can observe about every member. */
  readonly key: string;
  readonly kind: 'pod' | 'world';
  /** Address families with at least one element of this identity. */
  readonly families: readonly Family[];
  /** A member, as the evaluator sees it (a real pod of the cluster, or an external address). */
  readonly representative: Endpoint;
  /** Pod identities: ids of the groups every member is in (sorted). */
  readonly groups: readonly string[];
  /** Number of ip -> identity elements. */
  members: number;
}

/** One ip -> identity element: a pod address (first === last) or a disjoint world range. */
export interface IdentityElement {
  readonly family: Family;
  readonly first: bigint;
  readonly last: bigint;
  readonly identity: number;
  /** `namespace/name` for pod addresses. */
  readonly pod?: string;
}

export interface IdentityTable {
  /** Sorted by id. */
  readonly identities: readonly Identity[];
  readonly byId: ReadonlyMap<number, Identity>;
  /** Sorted by family, then address; disjoint; together they cover each family's whole address space. */
  readonly elements: readonly IdentityElement[];
  readonly warnings: readonly string[];
}

export interface IdentityOptions {
  /** key -> id of an earlier assignment: surviving identities keep their number. */
  readonly previous?: ReadonlyMap<string, number>;
}

/** The address-observing peers of a program (ipBlock/networks and nodes), deduplicated. */
interface AddressPeer {
  readonly key: string;
  readonly family?: Family;
  readonly contains: (family: Family, value: bigint, text: string) => boolean;
  /** Range boundaries (first, last) this peer introduces. */
  readonly ranges: readonly IpRange[];
}

const MAX: Record<Family, bigint> = { 4: (1n << 32n) - 1n, 6: (1n << 128n) - 1n };

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Named port names some rule references (resolved on destination pods). */
export function referencedPortNames(program: Program): string[] {
  const names = new Set<string>();
  for (const r of program.rules) for (const pm of r.ports ?? []) if (pm.kind === 'named') names.add(pm.name);
  return [...names].sort(cmp);
}

function addressPeers(program: Program, cluster: Cluster): AddressPeer[] {
  const out = new Map<string, AddressPeer>();
  for (const rule of program.rules) {
    for (const peer of rule.peers) {
      if (peer.kind === 'cidr') {
        const key = `cidr:${peer.cidr}-${[...peer.except].sort(cmp).join(',')}`;
        if (out.has(key)) continue;
        const c = parseCidr(peer.cidr);
        if (!c) continue;
        const outer = cidrRange(c);
        const holes = peer.except.map(parseCidr).filter((x): x is NonNullable<typeof x> => !!x).map(cidrRange);
        out.set(key, {
          key,
          family: c.family,
          ranges: [outer, ...holes],
          contains: (family, value) =>
            family === c.family && value >= outer.first && value <= outer.last && !holes.some((h) => h.family === family && value >= h.first && value <= h.last),
        });
      } else if (peer.kind === 'nodes') {
        const key = `nodes:${selectorKey(peer.selector)}`;
        if (out.has(key)) continue;
        out.set(key, { key, ranges: [], contains: nodeMatcher(peer.selector, cluster) });
      }
    }
  }
  return [...out.values()].sort((a, b) => cmp(a.key, b.key));
}

/** The evaluator's rule: the first node listing the address decides, by its labels. */
function nodeMatcher(selector: Selector, cluster: Cluster): AddressPeer['contains'] {
  return (family, value) => {
    const node = cluster.nodes.find((n) => n.ips.some((t) => sameAddress(t, family, value)));
    return !!node && selectorMatches(selector, node.labels);
  };
}

function sameAddress(text: string, family: Family, value: bigint): boolean {
  const ip = parseIp(text);
  return !!ip && ip.family === family && ip.value === value;
}

function addressClass(peers: readonly AddressPeer[], family: Family, value: bigint, text: string): string {
  return peers
    .filter((p) => p.contains(family, value, text))
    .map((p) => p.key)
    .join('|');
}

function portKey(pod: ClusterPod, names: readonly string[]): string {
  const parts: string[] = [];
  for (const name of names) {
    const ports = pod.ports
      .filter((p) => p.name === name)
      .map((p) => `${p.port}/${p.protocol}`)
      .sort(cmp);
    if (ports.length > 0) parts.push(`${name}=${[...new Set(ports)].join('+')}`);
  }
  return parts.join(',');
}

interface Draft {
  key: string;
  kind: 'pod' | 'world';
  families: Set<Family>;
  representative: Endpoint;
  groups: string[];
  members: number;
}

export function computeIdentities(program: Program, cluster: Cluster, options: IdentityOptions = {}): IdentityTable {
  const warnings: string[] = [];
  const peers = addressPeers(program, cluster);
  const portNames = referencedPortNames(program);
  const groups: readonly Group[] = program.groups;
  const drafts = new Map<string, Draft>();
  const draftOf = (key: string, kind: 'pod' | 'world', family: Family, representative: Endpoint, groupIds: string[]): Draft => {
    let d = drafts.get(key);
    if (!d) {
      d = { key, kind, families: new Set(), representative, groups: groupIds, members: 0 };
      drafts.set(key, d);
    }
    d.families.add(family);
    d.members++;
    return d;
  };

  // Pods: one element per address.
  const podElements: Array<{ family: Family; value: bigint; key: string; pod: string }> = [];
  const taken = new Map<string, string>();
  for (const pod of cluster.pods) {
    const base = podEndpoint(cluster, pod);
    if (base.kind !== 'pod') continue;
    const groupIds = groups.filter((g) => groupMatches(g, base).matched).map((g) => g.id);
    const ports = portKey(pod, portNames);
    for (const text of pod.ips) {
      const ip = parseIp(text);
      if (!ip) {
        warnings.push(`pod ${pod.namespace}/${pod.name}: address ${text} is not an IP address; ignored`);
        continue;
      }
      const addrKey = `${ip.family}/${ip.value}`;
      const owner = taken.get(addrKey);
      const name = `${pod.namespace}/${pod.name}`;
      if (owner !== undefined) {
        if (owner !== name) warnings.push(`pods ${owner} and ${name} share address ${text}; ${owner} owns it`);
        continue;
      }
      taken.set(addrKey, name);
      const cls = addressClass(peers, ip.family, ip.value, text);
      // A pod in no group and with no referenced named port is, to every rule, an address
      // like any other: it shares the world identity of its address class.
      const observed = groupIds.length > 0 || ports !== '';
      const key = observed ? `pod;g=${groupIds.join(',')};p=${ports};a=${cls}` : `world;a=${cls}`;
      draftOf(key, observed ? 'pod' : 'world', ip.family, { ...base, ip: text }, groupIds);
      podElements.push({ family: ip.family, value: ip.value, key, pod: name });
    }
  }

  // World: each family's address space split at every boundary; pod addresses carved out.
  const worldElements: Array<{ family: Family; first: bigint; last: bigint; key: string }> = [];
  for (const family of [4, 6] as const) {
    const cuts = new Set<bigint>([0n]);
    const addCut = (v: bigint) => {
      if (v >= 0n && v <= MAX[family]) cuts.add(v);
    };
    for (const p of peers) {
      for (const r of p.ranges) {
        if (r.family !== family) continue;
        addCut(r.first);
        addCut(r.last + 1n);
      }
    }
    const nodeIps = new Map<bigint, string>();
    for (const n of cluster.nodes) {
      for (const t of n.ips) {
        const ip = parseIp(t);
        if (ip && ip.family === family && !nodeIps.has(ip.value)) nodeIps.set(ip.value, t);
      }
    }
    if (peers.some((p) => p.key.startsWith('nodes:'))) {
      for (const v of nodeIps.keys()) {
        addCut(v);
        addCut(v + 1n);
      }
    }
    const podValues = new Set<bigint>();
    for (const e of podElements) {
      if (e.family !== family) continue;
      podValues.add(e.value);
      addCut(e.value);
      addCut(e.value + 1n);
    }
    const sorted = [...cuts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let open: { first: bigint; last: bigint; key: string } | undefined;
    for (let i = 0; i < sorted.length; i++) {
      const first = sorted[i];
      const last = i + 1 < sorted.length ? sorted[i + 1] - 1n : MAX[family];
      if (podValues.has(first)) {
        if (open) worldElements.push({ family, ...open });
        open = undefined;
        continue;
      }
      const text = nodeIps.get(first) ?? formatIp({ family, value: first });
      const cls = addressClass(peers, family, first, text);
      const key = `world;a=${cls}`;
      if (open && open.key === key) {
        open.last = last;
        continue;
      }
      if (open) worldElements.push({ family, ...open });
      open = { first, last, key };
      const d = drafts.get(key);
      if (!d) draftOf(key, 'world', family, { kind: 'external', ip: text }, []);
      else d.families.add(family);
    }
    if (open) worldElements.push({ family, ...open });
  }

  // Numbers: previous assignment first, then hashes in key order.
  const ids = new Map<string, number>();
  const used = new Set<number>([0]);
  const keys = [...drafts.keys()].sort(cmp);
  for (const key of keys) {
    const prev = options.previous?.get(key);
    if (prev !== undefined && prev !== 0 && !used.has(prev)) {
      ids.set(key, prev);
      used.add(prev);
    }
  }
  for (const key of keys) {
    if (ids.has(key)) continue;
    let id = fnv1a32(key) || 1;
    while (used.has(id)) id = (id + 1) >>> 0 || 1;
    used.add(id);
    ids.set(key, id);
  }

  const identities: Identity[] = keys.map((key) => {
    const d = drafts.get(key)!;
    return {
      id: ids.get(key)!,
      key,
      kind: d.kind,
      families: [...d.families].sort(),
      representative: d.representative,
      groups: d.groups,
      members: 0,
    };
  });
  identities.sort((a, b) => a.id - b.id);
  const byId = new Map(identities.map((i) => [i.id, i]));
  const elements: IdentityElement[] = [
    ...podElements.map((e) => ({ family: e.family, first: e.value, last: e.value, identity: ids.get(e.key)!, pod: e.pod })),
    ...worldElements.map((e) => ({ family: e.family, first: e.first, last: e.last, identity: ids.get(e.key)! })),
  ];
  elements.sort((a, b) => a.family - b.family || (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  for (const e of elements) byId.get(e.identity)!.members++;
  return { identities, byId, elements, warnings };
}

/** The identity of an address (binary search over the sorted, disjoint elements). */
export function lookupIdentity(table: Pick<IdentityTable, 'elements'>, text: string): number | undefined {
  const ip = parseIp(text);
  if (!ip) return undefined;
  const els = table.elements;
  let lo = 0;
  let hi = els.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const e = els[mid];
    if (e.family < ip.family || (e.family === ip.family && e.last < ip.value)) lo = mid + 1;
    else if (e.family > ip.family || e.first > ip.value) hi = mid - 1;
    else return e.identity;
  }
  return undefined;
}

/** Peers that observe addresses, for callers that want to know why an identity was split. */
export function isAddressPeer(p: Peer): boolean {
  return p.kind === 'cidr' || p.kind === 'nodes';
}
