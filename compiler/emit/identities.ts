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

import { namespaceLabels, type Cluster, type ClusterPod } from '../model/cluster.js';
import { formatIp, parseCidr, parseIp, cidrRange, type Family, type IpRange } from '../ir/cidr.js';
import { fnv1a32 } from '../ir/hash.js';
import { selectorKey, selectorMatches, type Labels, type Selector } from '../ir/selector.js';
import type { Group, Peer, Program } from '../ir/types.js';
import type { Endpoint } from '../evaluate/endpoints.js';

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
  /** nodes peers: the node selector. */
  readonly selector?: Selector;
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

/** The address-class key of an ipBlock peer. */
export function cidrPeerKey(cidr: string, except: readonly string[]): string {
  return `cidr:${cidr}-${[...except].sort(cmp).join(',')}`;
}

function addressPeers(program: Program, cluster: Cluster): AddressPeer[] {
  const out = new Map<string, AddressPeer>();
  for (const rule of program.rules) {
    for (const peer of rule.peers) {
      if (peer.kind === 'cidr') {
        const key = cidrPeerKey(peer.cidr, peer.except);
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
        out.set(key, { key, ranges: [], selector: peer.selector, contains: nodeMatcher(peer.selector, cluster) });
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

/**
 * Address classes without scanning every peer per address: the cidr peers split each family at
 * their boundaries (a sorted array, binary search); node addresses are looked up in a map.
 * The class is the '|'-joined keys of the peers that contain the address, in key order ('cidr:'
 * keys sort before 'nodes:' keys).
 */
export class AddressClassifier {
  private readonly cuts: Record<Family, bigint[]> = { 4: [], 6: [] };
  private readonly classes: Record<Family, string[]> = { 4: [], 6: [] };
  private readonly nodePeers: AddressPeer[];
  /** "family/value" -> labels of the first node listing the address. */
  private readonly nodeAt = new Map<string, Labels>();

  constructor(readonly peers: readonly AddressPeer[], cluster: Cluster) {
    const cidrPeers = peers.filter((p) => p.key.startsWith('cidr:'));
    this.nodePeers = peers.filter((p) => p.key.startsWith('nodes:'));
    for (const family of [4, 6] as const) {
      const set = new Set<bigint>([0n]);
      for (const p of cidrPeers) {
        for (const r of p.ranges) {
          if (r.family !== family) continue;
          set.add(r.first);
          if (r.last + 1n <= MAX[family]) set.add(r.last + 1n);
        }
      }
      const cuts = [...set].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      this.cuts[family] = cuts;
      this.classes[family] = cuts.map((v) =>
        cidrPeers
          .filter((p) => p.contains(family, v, ''))
          .map((p) => p.key)
          .join('|'),
      );
    }
    if (this.nodePeers.length > 0) {
      for (const n of cluster.nodes) {
        for (const t of n.ips) {
          const ip = parseIp(t);
          if (!ip) continue;
          const k = `${ip.family}/${ip.value}`;
          if (!this.nodeAt.has(k)) this.nodeAt.set(k, n.labels);
        }
      }
    }
  }

  classOf(family: Family, value: bigint): string {
    const cuts = this.cuts[family];
    let lo = 0;
    let hi = cuts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (cuts[mid] <= value) lo = mid;
      else hi = mid - 1;
    }
    const cidr = this.classes[family][lo];
    if (this.nodePeers.length === 0) return cidr;
    const labels = this.nodeAt.get(`${family}/${value}`);
    if (!labels) return cidr;
    const parts = cidr === '' ? [] : [cidr];
    for (const p of this.nodePeers) if (selectorMatches(p.selector!, labels)) parts.push(p.key);
    return parts.join('|');
  }
}

function portKey(pod: ClusterPod, names: readonly string[]): string {
  if (names.length === 0 || pod.ports.length === 0) return '';
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

/** Program-only indexes: groups by namespace name, selector groups, referenced port names, cidr peers. */
interface ProgramIndex {
  readonly byName: ReadonlyMap<string, readonly number[]>;
  readonly selectorGroups: readonly number[];
  readonly portNames: readonly string[];
  /** Cached per program (and node list): the address classifier. */
  address?: { nodes: Cluster['nodes']; classifier: AddressClassifier };
  /** Cached per program: candidate groups per namespace (checked against the namespace's labels). */
  readonly namespaces: Map<string, NamespaceCandidates>;
}

function sameLabels(a: Labels, b: Labels): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!Object.prototype.hasOwnProperty.call(b, k) || a[k] !== b[k]) return false;
  return true;
}

const programIndexes = new WeakMap<Program, ProgramIndex>();


function programIndex(program: Program): ProgramIndex {
  let ix = programIndexes.get(program);
  if (ix) return ix;
  const byName = new Map<string, number[]>();
  const selectorGroups: number[] = [];
  program.groups.forEach((g, i) => {
    if (g.namespaces.kind === 'name') {
      let l = byName.get(g.namespaces.name);
      if (!l) byName.set(g.namespaces.name, (l = []));
      l.push(i);
    } else selectorGroups.push(i);
  });
  ix = { byName, selectorGroups, portNames: referencedPortNames(program), namespaces: new Map() };
  programIndexes.set(program, ix);
  return ix;
}

interface NamespaceCandidates {
  readonly labels: Labels;
  /** Group indices (program order) whose namespace part matches. */
  readonly candidates: readonly number[];
  /** Label keys the candidates' pod selectors read (sorted). */
  readonly keys: readonly string[];
  /** Projected pod labels -> group ids. */
  readonly memo: Map<string, string[]>;
}

/**
 * Which groups a pod is in, with plain boolean selector tests: the namespace part of every
 * group is evaluated once per namespace, then only the candidate groups' pod selectors per pod,
 * memoised per namespace by the values of the label keys those selectors read.
 */
export class PodClassifier {
  readonly portNames: readonly string[];
  readonly address: AddressClassifier;
  private readonly index: ProgramIndex;
  private readonly namespaces: Map<string, NamespaceCandidates>;

  constructor(
    readonly program: Program,
    readonly cluster: Cluster,
  ) {
    this.index = programIndex(program);
    this.portNames = this.index.portNames;
    const cached = this.index.address;
    if (cached && cached.nodes === cluster.nodes) this.address = cached.classifier;
    else {
      this.address = new AddressClassifier(addressPeers(program, cluster), cluster);
      this.index.address = { nodes: cluster.nodes, classifier: this.address };
    }
    this.namespaces = this.index.namespaces;
  }

  private namespace(name: string): NamespaceCandidates {
    const labels = namespaceLabels(this.cluster, name);
    let ns = this.namespaces.get(name);
    // Valid while the namespace's labels are the same (the cluster model shares unchanged objects); else by content.
    if (ns && (ns.labels === labels || sameLabels(ns.labels, labels))) return ns;
    const groups = this.program.groups;
    const set = new Set<number>(this.index.byName.get(name) ?? []);
    for (const i of this.index.selectorGroups) {
      const nsm = groups[i].namespaces;
      if (nsm.kind === 'selector' && selectorMatches(nsm.selector, labels)) set.add(i);
    }
    const candidates = [...set].sort((a, b) => a - b);
    const keys = new Set<string>();
    for (const i of candidates) for (const r of groups[i].pods.requirements) keys.add(r.key);
    ns = { labels, candidates, keys: [...keys].sort(cmp), memo: new Map() };
    this.namespaces.set(name, ns);
    return ns;
  }

  namespaceLabels(name: string): Labels {
    return this.namespace(name).labels;
  }

  /** Ids of the groups the pod is in, in program order. */
  groupsOf(pod: ClusterPod): string[] {
    const ns = this.namespace(pod.namespace);
    const labels = pod.labels;
    let projected = '';
    for (const k of ns.keys) projected += Object.prototype.hasOwnProperty.call(labels, k) ? `\u0001${labels[k]}\u0000` : '\u0002\u0000';
    let ids = ns.memo.get(projected);
    if (!ids) {
      ids = [];
      const groups = this.program.groups;
      for (const i of ns.candidates) if (selectorMatches(groups[i].pods, labels)) ids.push(groups[i].id);
      ns.memo.set(projected, ids);
    }
    return ids;
  }

  portKey(pod: ClusterPod): string {
    return portKey(pod, this.portNames);
  }

  /** The identity key of one address of a pod, given its groups and port key. */
  static key(groupIds: readonly string[], ports: string, cls: string): string {
    const observed = groupIds.length > 0 || ports !== '';
    return observed ? `pod;g=${groupIds.join(',')};p=${ports};a=${cls}` : `world;a=${cls}`;
  }
}

/** The identity key of one pod address (what computeIdentities would give it). */
export function podIdentityKey(classifier: PodClassifier, pod: ClusterPod, family: Family, value: bigint): string {
  return PodClassifier.key(classifier.groupsOf(pod), classifier.portKey(pod), classifier.address.classOf(family, value));
}

/** The address class part of an identity key. */
export function identityAddressClass(key: string): string {
  const at = key.indexOf(';a=');
  return at < 0 ? '' : key.slice(at + 3);
}

/** Sorted, deduplicated; IPv4 values sort as doubles (exact below 2^53). */
function sortUnique(values: bigint[], family: Family): bigint[] {
  if (family === 4) {
    const f = Float64Array.from(values, Number).sort();
    const out: bigint[] = [];
    for (let i = 0; i < f.length; i++) if (i === 0 || f[i] !== f[i - 1]) out.push(BigInt(f[i]));
    return out;
  }
  const sorted = values.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted.filter((v, i) => i === 0 || v !== sorted[i - 1]);
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
  const classifier = new PodClassifier(program, cluster);
  const peers = classifier.address.peers;
  const drafts = new Map<string, Draft>();
  const draftOf = (key: string, kind: 'pod' | 'world', family: Family, representative: () => Endpoint, groupIds: string[]): Draft => {
    let d = drafts.get(key);
    if (!d) {
      d = { key, kind, families: new Set(), representative: representative(), groups: groupIds, members: 0 };
      drafts.set(key, d);
    }
    d.families.add(family);
    d.members++;
    return d;
  };

  // Pods: one element per address.
  const podElements: Array<{ family: Family; value: bigint; key: string; pod: string }> = [];
  const taken: Record<Family, Map<bigint, string>> = { 4: new Map(), 6: new Map() };
  for (const pod of cluster.pods) {
    const groupIds = classifier.groupsOf(pod);
    const ports = classifier.portKey(pod);
    const name = `${pod.namespace}/${pod.name}`;
    for (const text of pod.ips) {
      const ip = parseIp(text);
      if (!ip) {
        warnings.push(`pod ${pod.namespace}/${pod.name}: address ${text} is not an IP address; ignored`);
        continue;
      }
      const owner = taken[ip.family].get(ip.value);
      if (owner !== undefined) {
        if (owner !== name) warnings.push(`pods ${owner} and ${name} share address ${text}; ${owner} owns it`);
        continue;
      }
      taken[ip.family].set(ip.value, name);
      const cls = classifier.address.classOf(ip.family, ip.value);
      // A pod in no group and with no referenced named port is, to every rule, an address
      // like any other: it shares the world identity of its address class.
      const observed = groupIds.length > 0 || ports !== '';
      const key = PodClassifier.key(groupIds, ports, cls);
      draftOf(key, observed ? 'pod' : 'world', ip.family, () => ({ kind: 'pod', pod, namespaceLabels: classifier.namespaceLabels(pod.namespace), ip: text }), groupIds);
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
    const podList: bigint[] = [];
    for (const e of podElements) if (e.family === family) podList.push(e.value);
    const podSorted = sortUnique(podList, family);
    for (const v of podSorted) {
      addCut(v);
      if (v + 1n <= MAX[family]) cuts.add(v + 1n);
    }
    const sorted = sortUnique([...cuts], family);
    let open: { first: bigint; last: bigint; key: string } | undefined;
    let nextPod = 0;
    for (let i = 0; i < sorted.length; i++) {
      const first = sorted[i];
      const last = i + 1 < sorted.length ? sorted[i + 1] - 1n : MAX[family];
      while (nextPod < podSorted.length && podSorted[nextPod] < first) nextPod++;
      if (nextPod < podSorted.length && podSorted[nextPod] === first) {
        if (open) worldElements.push({ family, ...open });
        open = undefined;
        continue;
      }
      const cls = classifier.address.classOf(family, first);
      const key = `world;a=${cls}`;
      if (open && open.key === key) {
        open.last = last;
        continue;
      }
      if (open) worldElements.push({ family, ...open });
      open = { first, last, key };
      const d = drafts.get(key);
      if (!d) draftOf(key, 'world', family, () => ({ kind: 'external', ip: nodeIps.get(first) ?? formatIp({ family, value: first }) }), []);
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
  // Pod elements sorted (IPv4 by a double, exact), then merged with the world elements, which are built in order.
  const v4 = podElements.filter((e) => e.family === 4);
  const nums = new Map<bigint, number>(v4.map((e) => [e.value, Number(e.value)]));
  v4.sort((a, b) => nums.get(a.value)! - nums.get(b.value)!);
  const v6 = podElements.filter((e) => e.family === 6).sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  const pods: IdentityElement[] = [...v4, ...v6].map((e) => ({ family: e.family, first: e.value, last: e.value, identity: ids.get(e.key)!, pod: e.pod }));
  const world: IdentityElement[] = worldElements.map((e) => ({ family: e.family, first: e.first, last: e.last, identity: ids.get(e.key)! }));
  const elements: IdentityElement[] = [];
  let i = 0;
  let j = 0;
  const before = (a: IdentityElement, b: IdentityElement) => a.family < b.family || (a.family === b.family && a.first < b.first);
  while (i < pods.length && j < world.length) elements.push(before(pods[i], world[j]) ? pods[i++] : world[j++]);
  while (i < pods.length) elements.push(pods[i++]);
  while (j < world.length) elements.push(world[j++]);
  for (const e of elements) byId.get(e.identity)!.members++;
  return { identities, byId, elements, warnings };
}

/** Identity ids of the given pods (`namespace/name`): the subjects of a node-local table. */
export function podIdentities(table: Pick<IdentityTable, 'elements'>, pods: ReadonlySet<string>): Set<number> {
  const out = new Set<number>();
  for (const e of table.elements) if (e.pod !== undefined && pods.has(e.pod)) out.add(e.identity);
  return out;
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
