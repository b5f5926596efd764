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
import { formatIp, formatIpv4Number, parseCidr, parseIp, parseIpv4Number, cidrRange, subtractRanges, type Family, type IpRange } from '../ir/cidr.js';
import { fnv1a32 } from '../ir/hash.js';
import { selectorKey, selectorMatches, type Labels, type Selector } from '../ir/selector.js';
import type { Peer, Program } from '../ir/types.js';
import type { Endpoint } from '../evaluate/endpoints.js';
import { LayeredMap } from './layered-map.js';
import { partitionPoint } from './sorted.js';

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
  /** cidr peers: the cidr's range, then its excepts' (the boundaries the peer introduces). */
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

function addressPeers(program: Program): AddressPeer[] {
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
        out.set(key, { key, family: c.family, ranges: [outer, ...holes] });
      } else if (peer.kind === 'nodes') {
        const key = `nodes:${selectorKey(peer.selector)}`;
        if (out.has(key)) continue;
        out.set(key, { key, ranges: [], selector: peer.selector });
      }
    }
  }
  return [...out.values()].sort((a, b) => cmp(a.key, b.key));
}

/**
 * The class at each cut: the '|'-joined keys (peer order) of the cidr peers containing it. Every
 * range boundary is a cut, so a peer contains whole runs of cuts: each peer marks its runs (outer
 * range minus the excepts) instead of every cut testing every peer.
 */
function cutClasses(cuts: readonly bigint[], cidrPeers: readonly AddressPeer[], family: Family): string[] {
  const index = new Map<bigint, number>(cuts.map((v, i) => [v, i]));
  const members: number[][] = cuts.map(() => []);
  cidrPeers.forEach((p, k) => {
    const [outer, ...holes] = p.ranges;
    if (!outer || outer.family !== family) return;
    for (const r of subtractRanges(outer, holes)) {
      const end = r.last + 1n > MAX[family] ? cuts.length : index.get(r.last + 1n)!;
      for (let i = index.get(r.first)!; i < end; i++) members[i].push(k);
    }
  });
  return members.map((ks) => ks.map((k) => cidrPeers[k].key).join('|'));
}

/** Index of the last cut at or below `value` (cuts sorted ascending, cuts[0] the family's first address). */
function floorIndex<T extends number | bigint>(cuts: ArrayLike<T>, value: T): number {
  return partitionPoint(1, cuts.length, (i) => cuts[i] <= value) - 1;
}

/**
 * Address classes without scanning every peer per address: the cidr peers split each family at
 * their boundaries (a sorted array, binary search); node addresses are looked up in a map.
 * The class is the '|'-joined keys of the peers that contain the address, in key order ('cidr:'
 * keys sort before 'nodes:' keys).
 */
export class AddressClassifier {
  private readonly cuts: Record<Family, bigint[]> = { 4: [], 6: [] };
  /** The IPv4 cuts as numbers (exact), for classOfV4. */
  private readonly cuts4: Float64Array;
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
      this.classes[family] = cutClasses(cuts, cidrPeers, family);
    }
    this.cuts4 = Float64Array.from(this.cuts[4], Number);
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
    if (family === 4) return this.classOfV4(Number(value));
    return this.withNodes(family, value, this.classes[family][floorIndex(this.cuts[family], value)]);
  }

  /** classOf(4, BigInt(value)), without bigints: called for every pod address and world cut. */
  classOfV4(value: number): string {
    return this.withNodes(4, value, this.classes[4][floorIndex(this.cuts4, value)]);
  }

  private withNodes(family: Family, value: bigint | number, cidr: string): string {
    if (this.nodePeers.length === 0) return cidr;
    const labels = this.nodeAt.get(`${family}/${value}`); // a number and a bigint print alike
    if (!labels) return cidr;
    const parts = cidr === '' ? [] : [cidr];
    for (const p of this.nodePeers) if (selectorMatches(p.selector!, labels)) parts.push(p.key);
    return parts.join('|');
  }
}

/** `name=port/proto+...` for each referenced name the pod defines, ','-joined; no arrays in the usual one-port-per-name case. */
function portKey(pod: ClusterPod, names: readonly string[]): string {
  if (names.length === 0 || pod.ports.length === 0) return '';
  let out = '';
  for (const name of names) {
    let first: string | undefined;
    let more: string[] | undefined;
    for (const p of pod.ports) {
      if (p.name !== name) continue;
      const text = `${p.port}/${p.protocol}`;
      if (first === undefined) first = text;
      else (more ??= [first]).push(text);
    }
    if (first === undefined) continue;
    const ports = more ? [...new Set(more.sort(cmp))].join('+') : first;
    out += `${out === '' ? '' : ','}${name}=${ports}`;
  }
  return out;
}

/** Program-only indexes: groups by namespace name, selector groups, referenced port names, cidr peers. */
interface ProgramIndex {
  readonly byName: ReadonlyMap<string, readonly number[]>;
  /** Groups with a namespace selector, by distinct selector: each selector is tested once per namespace. */
  readonly selectorGroups: ReadonlyArray<{ readonly selector: Selector; readonly groups: readonly number[] }>;
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
  const bySelector = new Map<string, { selector: Selector; groups: number[] }>();
  program.groups.forEach((g, i) => {
    if (g.namespaces.kind === 'name') {
      let l = byName.get(g.namespaces.name);
      if (!l) byName.set(g.namespaces.name, (l = []));
      l.push(i);
    } else {
      const k = selectorKey(g.namespaces.selector);
      let e = bySelector.get(k);
      if (!e) bySelector.set(k, (e = { selector: g.namespaces.selector, groups: [] }));
      e.groups.push(i);
    }
  });
  ix = { byName, selectorGroups: [...bySelector.values()], portNames: referencedPortNames(program), namespaces: new Map() };
  programIndexes.set(program, ix);
  return ix;
}

interface NamespaceCandidates {
  readonly labels: Labels;
  /** Group indices (program order) whose namespace part matches. */
  readonly candidates: readonly number[];
  /** Label keys the candidates' pod selectors read (sorted). */
  readonly keys: readonly string[];
  /** Projected pod labels -> group ids: a trie over `keys` (undefined: the label is absent). */
  readonly memo: ProjectionNode;
}

/** A trie node: one level per key read, so a lookup hashes label values the pod already holds instead of building a string. */
interface ProjectionNode {
  next?: Map<string | undefined, ProjectionNode>;
  ids?: string[];
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
  private last?: { readonly name: string; readonly ns: NamespaceCandidates };

  constructor(
    readonly program: Program,
    readonly cluster: Cluster,
  ) {
    this.index = programIndex(program);
    this.portNames = this.index.portNames;
    const cached = this.index.address;
    if (cached && cached.nodes === cluster.nodes) this.address = cached.classifier;
    else {
      this.address = new AddressClassifier(addressPeers(program), cluster);
      this.index.address = { nodes: cluster.nodes, classifier: this.address };
    }
    this.namespaces = this.index.namespaces;
  }

  private namespace(name: string): NamespaceCandidates {
    // Pods come sorted by namespace: the previous answer is usually the one (this classifier's cluster does not change).
    if (this.last?.name === name) return this.last.ns;
    const labels = namespaceLabels(this.cluster, name);
    let ns = this.namespaces.get(name);
    // Valid while the namespace's labels are the same (the cluster model shares unchanged objects); else by content.
    if (ns && (ns.labels === labels || sameLabels(ns.labels, labels))) {
      this.last = { name, ns };
      return ns;
    }
    const groups = this.program.groups;
    const set = new Set<number>(this.index.byName.get(name) ?? []);
    for (const s of this.index.selectorGroups) if (selectorMatches(s.selector, labels)) for (const i of s.groups) set.add(i);
    const candidates = [...set].sort((a, b) => a - b);
    const keys = new Set<string>();
    for (const i of candidates) for (const r of groups[i].pods.requirements) keys.add(r.key);
    ns = { labels, candidates, keys: [...keys].sort(cmp), memo: {} };
    this.namespaces.set(name, ns);
    this.last = { name, ns };
    return ns;
  }

  namespaceLabels(name: string): Labels {
    return this.namespace(name).labels;
  }

  /** Ids of the groups the pod is in, in program order. */
  groupsOf(pod: ClusterPod): string[] {
    const ns = this.namespace(pod.namespace);
    const labels = pod.labels;
    let node = ns.memo;
    for (const k of ns.keys) {
      const value = Object.prototype.hasOwnProperty.call(labels, k) ? labels[k] : undefined;
      const next = (node.next ??= new Map());
      let child = next.get(value);
      if (!child) next.set(value, (child = {}));
      node = child;
    }
    let ids = node.ids;
    if (!ids) {
      ids = [];
      const groups = this.program.groups;
      for (const i of ns.candidates) if (selectorMatches(groups[i].pods, labels)) ids.push(groups[i].id);
      node.ids = ids;
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

/** Sorted, deduplicated IPv6 values. */
function sortUniqueBig(values: bigint[]): bigint[] {
  const sorted = values.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted.filter((v, i) => i === 0 || v !== sorted[i - 1]);
}

/** Sorted, deduplicated IPv4 values (numbers, exact). */
function sortUniqueV4(values: readonly number[]): Float64Array {
  const f = Float64Array.from(values).sort();
  let n = 0;
  for (let i = 0; i < f.length; i++) if (n === 0 || f[i] !== f[n - 1]) f[n++] = f[i];
  return f.subarray(0, n);
}

interface Draft {
  key: string;
  kind: 'pod' | 'world';
  families: Set<Family>;
  representative: Endpoint;
  groups: string[];
}

/** A pod address; IPv4 values are numbers (exact, and much cheaper to sort and compare than bigints). */
interface PodAddress<T> {
  readonly value: T;
  readonly key: string;
  readonly pod: string;
}

interface WorldRange<T> {
  readonly first: T;
  last: T;
  readonly key: string;
}

/**
 * One family's world ranges: the address line cut at `sorted` (sorted, unique, starting at 0),
 * the pod addresses (`pods`: sorted, each a cut, as is the address after it) left out, and
 * neighbouring ranges with the same key merged. `opened` sees each range's key and first address.
 */
function carveWorld<T extends number | bigint>(
  sorted: ArrayLike<T>,
  pods: ArrayLike<T>,
  max: T,
  pred: (v: T) => T,
  keyOf: (v: T) => string,
  opened: (key: string, first: T) => void,
): Array<WorldRange<T>> {
  const out: Array<WorldRange<T>> = [];
  let open: WorldRange<T> | undefined;
  let nextPod = 0;
  for (let i = 0; i < sorted.length; i++) {
    const first = sorted[i];
    const last = i + 1 < sorted.length ? pred(sorted[i + 1]) : max;
    while (nextPod < pods.length && pods[nextPod] < first) nextPod++;
    if (nextPod < pods.length && pods[nextPod] === first) {
      if (open) out.push(open);
      open = undefined;
      continue;
    }
    const key = keyOf(first);
    if (open && open.key === key) {
      open.last = last;
      continue;
    }
    if (open) out.push(open);
    open = { first, last, key };
    opened(key, first);
  }
  if (open) out.push(open);
  return out;
}

/** Pod addresses (sorted) and world ranges (sorted) of one family merged into elements. */
function mergeElements<T extends number | bigint>(family: Family, pods: ReadonlyArray<PodAddress<T>>, world: ReadonlyArray<WorldRange<T>>, ids: ReadonlyMap<string, number>, out: IdentityElement[]): void {
  let i = 0;
  let j = 0;
  while (i < pods.length || j < world.length) {
    if (j >= world.length || (i < pods.length && pods[i].value < world[j].first)) {
      const p = pods[i++];
      const v = BigInt(p.value);
      out.push({ family, first: v, last: v, identity: ids.get(p.key)!, pod: p.pod });
    } else {
      const w = world[j++];
      out.push({ family, first: BigInt(w.first), last: BigInt(w.last), identity: ids.get(w.key)! });
    }
  }
}

/**
 * Pods: one element per address, with its identity key (drafts are added for new keys). Its own
 * function with indexed loops: it runs once per compile over every pod, and for-of iterators or a
 * long enclosing function would keep it in slower code for much of that one run.
 */
function podAddresses(cluster: Cluster, classifier: PodClassifier, drafts: Map<string, Draft>, warnings: string[]): { pods4: Array<PodAddress<number>>; pods6: Array<PodAddress<bigint>> } {
  const address = classifier.address;
  // Identity keys by (groups array, port key, address class): groupsOf returns one shared array
  // per distinct group set, so most pods reuse a key string instead of building one.
  const keyCache = new Map<readonly string[], Map<string, Map<string, string>>>();
  const podKey = (groupIds: readonly string[], ports: string, cls: string): string => {
    let byPorts = keyCache.get(groupIds);
    if (!byPorts) keyCache.set(groupIds, (byPorts = new Map()));
    let byClass = byPorts.get(ports);
    if (!byClass) byPorts.set(ports, (byClass = new Map()));
    let key = byClass.get(cls);
    if (key === undefined) byClass.set(cls, (key = PodClassifier.key(groupIds, ports, cls)));
    return key;
  };
  const pods4: Array<PodAddress<number>> = [];
  const pods6: Array<PodAddress<bigint>> = [];
  const taken4 = new Map<number, string>();
  const taken6 = new Map<bigint, string>();
  const pods = cluster.pods;
  for (let i = 0; i < pods.length; i++) {
    const pod = pods[i];
    const groupIds = classifier.groupsOf(pod);
    const ports = classifier.portKey(pod);
    const name = `${pod.namespace}/${pod.name}`;
    // A pod in no group and with no referenced named port is, to every rule, an address
    // like any other: it shares the world identity of its address class.
    const kind = groupIds.length > 0 || ports !== '' ? 'pod' : 'world';
    for (let k = 0; k < pod.ips.length; k++) {
      const text = pod.ips[k];
      const v4 = parseIpv4Number(text);
      const ip = v4 === undefined ? parseIp(text) : undefined;
      if (v4 === undefined && !ip) {
        warnings.push(`pod ${pod.namespace}/${pod.name}: address ${text} is not an IP address; ignored`);
        continue;
      }
      const owner = v4 !== undefined ? taken4.get(v4) : taken6.get(ip!.value);
      if (owner !== undefined) {
        if (owner !== name) warnings.push(`pods ${owner} and ${name} share address ${text}; ${owner} owns it`);
        continue;
      }
      let key: string;
      if (v4 !== undefined) {
        taken4.set(v4, name);
        key = podKey(groupIds, ports, address.classOfV4(v4));
        pods4.push({ value: v4, key, pod: name });
      } else {
        taken6.set(ip!.value, name);
        key = podKey(groupIds, ports, address.classOf(6, ip!.value));
        pods6.push({ value: ip!.value, key, pod: name });
      }
      let d = drafts.get(key);
      if (!d) drafts.set(key, (d = { key, kind, families: new Set(), representative: { kind: 'pod', pod, namespaceLabels: classifier.namespaceLabels(pod.namespace), ip: text }, groups: groupIds }));
      d.families.add(v4 !== undefined ? 4 : 6);
    }
  }
  return { pods4, pods6 };
}

const MAX4 = 2 ** 32 - 1;

/** A world identity's draft (the first range of a key brings its representative), or its family noted. */
function noteWorld(drafts: Map<string, Draft>, key: string, family: Family, ip: () => string): void {
  const d = drafts.get(key);
  if (d) d.families.add(family);
  else drafts.set(key, { key, kind: 'world', families: new Set([family]), representative: { kind: 'external', ip: ip() }, groups: [] });
}

/**
 * World: each family's address space split at every cidr/except boundary (and every node
 * address, when a nodes peer exists) and around every pod address (sorted); the pod addresses
 * are carved out. IPv4 values are numbers.
 */
function worldRanges(
  cluster: Cluster,
  address: AddressClassifier,
  pods4: ReadonlyArray<PodAddress<number>>,
  pods6: ReadonlyArray<PodAddress<bigint>>,
  drafts: Map<string, Draft>,
): { world4: Array<WorldRange<number>>; world6: Array<WorldRange<bigint>> } {
  const peers = address.peers;
  const hasNodePeers = peers.some((p) => p.key.startsWith('nodes:'));
  const worldKeys = new Map<string, string>();
  const worldKey = (cls: string): string => {
    let key = worldKeys.get(cls);
    if (key === undefined) worldKeys.set(cls, (key = `world;a=${cls}`));
    return key;
  };
  const nodeIps: { 4: Map<number, string>; 6: Map<bigint, string> } = { 4: new Map(), 6: new Map() };
  for (const n of cluster.nodes) {
    for (const t of n.ips) {
      const ip = parseIp(t);
      if (!ip) continue;
      if (ip.family === 4 && !nodeIps[4].has(Number(ip.value))) nodeIps[4].set(Number(ip.value), t);
      if (ip.family === 6 && !nodeIps[6].has(ip.value)) nodeIps[6].set(ip.value, t);
    }
  }

  const cuts4: number[] = [0];
  const cut4 = (v: number) => {
    if (v >= 0 && v <= MAX4) cuts4.push(v);
  };
  for (const p of peers) for (const r of p.ranges) if (r.family === 4) cut4(Number(r.first)), cut4(Number(r.last) + 1);
  if (hasNodePeers) for (const v of nodeIps[4].keys()) cut4(v), cut4(v + 1);
  const podSorted4 = sortUniqueV4(pods4.map((p) => p.value));
  for (let i = 0; i < podSorted4.length; i++) cut4(podSorted4[i]), cut4(podSorted4[i] + 1);
  const world4 = carveWorld(sortUniqueV4(cuts4), podSorted4, MAX4, (v) => v - 1, (v) => worldKey(address.classOfV4(v)), (key, first) =>
    noteWorld(drafts, key, 4, () => nodeIps[4].get(first) ?? formatIpv4Number(first)),
  );

  const cuts6 = new Set<bigint>([0n]);
  const cut6 = (v: bigint) => {
    if (v >= 0n && v <= MAX[6]) cuts6.add(v);
  };
  for (const p of peers) for (const r of p.ranges) if (r.family === 6) cut6(r.first), cut6(r.last + 1n);
  if (hasNodePeers) for (const v of nodeIps[6].keys()) cut6(v), cut6(v + 1n);
  const podSorted6 = sortUniqueBig(pods6.map((p) => p.value));
  for (const v of podSorted6) cut6(v), cut6(v + 1n);
  const world6 = carveWorld(sortUniqueBig([...cuts6]), podSorted6, MAX[6], (v) => v - 1n, (v) => worldKey(address.classOf(6, v)), (key, first) =>
    noteWorld(drafts, key, 6, () => nodeIps[6].get(first) ?? formatIp({ family: 6, value: first })),
  );
  return { world4, world6 };
}

export function computeIdentities(program: Program, cluster: Cluster, options: IdentityOptions = {}): IdentityTable {
  const warnings: string[] = [];
  const classifier = new PodClassifier(program, cluster);
  const drafts = new Map<string, Draft>();
  const { pods4, pods6 } = podAddresses(cluster, classifier, drafts, warnings);
  pods4.sort((a, b) => a.value - b.value);
  pods6.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  const { world4, world6 } = worldRanges(cluster, classifier.address, pods4, pods6, drafts);

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
  const elements: IdentityElement[] = [];
  mergeElements(4, pods4, world4, ids, elements);
  mergeElements(6, pods6, world6, ids, elements);
  const six = new Map<number, number>();
  for (let i = 0; i < elements.length; i++) {
    const id = elements[i].identity;
    byId.get(id)!.members++;
    if (elements[i].family === 6) six.set(id, (six.get(id) ?? 0) + 1);
  }
  const table = { identities, byId, elements, warnings };
  ipv6Counts.set(table, LayeredMap.of(six));
  return table;
}

/** Per table: identity id -> its IPv6 elements (the rest of `members` are IPv4); absent = none. */
const ipv6Counts = new WeakMap<IdentityTable, LayeredMap<number, number>>();

/**
 * Elements per address family of every identity of a table (`members` split by family): what
 * tells whether a change leaves an identity without one of its families. Recorded by
 * computeIdentities, derived by membership.ts updateMembership (withIpv6Counts), else counted.
 */
export function familyCounts(table: IdentityTable): (id: number) => { 4: number; 6: number } {
  let six = ipv6Counts.get(table);
  if (!six) {
    const m = new Map<number, number>();
    for (const e of table.elements) if (e.family === 6) m.set(e.identity, (m.get(e.identity) ?? 0) + 1);
    ipv6Counts.set(table, (six = LayeredMap.of(m)));
  }
  const counts = six;
  return (id) => {
    const members = table.byId.get(id)?.members ?? 0;
    const v6 = counts.get(id) ?? 0;
    return { 4: members - v6, 6: v6 };
  };
}

/** Records the IPv6 element counts of `to`: those of `from` with `changes` (id -> count; 0 = none). */
export function withIpv6Counts(from: IdentityTable, to: IdentityTable, changes: ReadonlyMap<number, number>): void {
  familyCounts(from);
  const edits = new Map<number, number | undefined>();
  for (const [id, n] of changes) edits.set(id, n > 0 ? n : undefined);
  ipv6Counts.set(to, ipv6Counts.get(from)!.with(edits));
}

/** Index of the element holding an address (binary search), or -1. */
export function elementIndex(elements: readonly IdentityElement[], family: Family, value: bigint): number {
  // the first element not wholly below the address holds it, if any does
  const at = partitionPoint(0, elements.length, (i) => elements[i].family < family || (elements[i].family === family && elements[i].last < value));
  const e = elements[at];
  return e !== undefined && e.family === family && e.first <= value ? at : -1;
}

/** The identity of an address (binary search over the sorted, disjoint elements). */
export function lookupIdentity(table: Pick<IdentityTable, 'elements'>, text: string): number | undefined {
  return elementAt(table, text)?.identity;
}

/** The element holding an address (binary search over the sorted, disjoint elements). */
export function elementAt(table: Pick<IdentityTable, 'elements'>, text: string): IdentityElement | undefined {
  const ip = parseIp(text);
  if (!ip) return undefined;
  const at = elementIndex(table.elements, ip.family, ip.value);
  return at < 0 ? undefined : table.elements[at];
}

/** Peers that observe addresses, for callers that want to know why an identity was split. */
export function isAddressPeer(p: Peer): boolean {
  return p.kind === 'cidr' || p.kind === 'nodes';
}
