// Membership: the data half of the dataplane (ip -> identity, decisions, isolated subjects),
// which changes with the cluster while the rule skeleton does not. The node daemon calls
// computeMembership with the pods it sees and membershipDiff to get the element adds/deletes
// for one atomic batch. A one-pod label change that moves the pod into an identity that
// already exists (and leaves its old identity with members) changes exactly one ip -> identity
// element per address of the pod. updateMembership(previous, program, cluster, changedPods) is
// that path without the full recomputation: existing identity -> only the pod's ip -> identity
// elements change (decisions shared with `previous`); new/vanished identity -> only its decision
// row and column are computed and spliced into the rows they touch (decision-rows.ts), the
// column only for the subjects a rule towards the identity applies to (columnSubjects). Pods
// that appear, vanish or change addresses (CNI ADD/DEL) take the same path: a new address is
// carved out of the world range holding it, a freed one goes back to the world merged with its
// neighbours of the same class, exactly as computeIdentities carves (mergeWorld then runs over
// the elements once: the kernel's world ranges, ~1 ms at 50k pods). Its result equals
// computeMembership's (incremental.test.ts, update-property.test.ts, address-property.test.ts)
// and costs the change, not the table: no pass over every pair or identity (the element array
// is copied). membershipDiff merges the
// two sorted element arrays (no key strings), or, for a membership updateMembership derived from
// `before`, only the elements it recorded as changed.

import { comparePodKey, isSortedPods, type Cluster } from '../model/cluster.js';
import type { Direction, Program } from '../ir/types.js';
import { computeIdentities, elementAt, elementIndex, familyCounts, PodClassifier, withIpv6Counts, type Identity, type IdentityElement, type IdentityTable } from './identities.js';
import { columnSubjects, computeDecisions, decisionCells, DIRECTIONS, idLowerBound, positionOf, type DecisionElement, type DecisionTable } from './decisions.js';
import { editRow, flatten, pairsTowards, rowKey, rowPairs, splitRows, type Rows } from './decision-rows.js';
import { OverlayMap } from './overlay-map.js';
import { derivePeerIndex } from './peer-index.js';
import { formatIp, parseIp, type Family } from '../ir/cidr.js';
import { LayeredMap } from './layered-map.js';
import { fnv1a32 } from '../ir/hash.js';
import { comparePairs, comparePorts, isolationOf, layoutChange, layoutDecisions, type DecisionLayout, type LayoutChange, type PairElement, type PortElement } from './profiles.js';
import { partitionPoint } from './sorted.js';

export interface Membership {
  readonly identities: IdentityTable;
  readonly decisions: DecisionTable;
  /** Every address: pod addresses and the world ranges carved around them (IdentityTable.elements). */
  readonly identityElements: readonly IdentityElement[];
  /**
   * The world ranges as the kernel holds them: merged across pod addresses (a pod address is
   * looked up in the exact pod map first), so pod churn and label changes leave them alone.
   */
  readonly world: readonly IdentityElement[];
  readonly decisionElements: readonly DecisionElement[];
  readonly isolated: Readonly<Record<Direction, readonly number[]>>;
  /** The decisions as the kernel holds them: identity pairs -> profile, profile ports -> rule. */
  readonly layout: DecisionLayout;
  /** Set for a node-local table (computeMembership's scope). */
  readonly scope?: MembershipScope;
  /** Identity key -> number; pass back as `previous` so surviving identities keep their numbers. */
  readonly assignment: ReadonlyMap<string, number>;
}

export interface ElementChanges<T> {
  readonly add: readonly T[];
  readonly delete: readonly T[];
}

export interface MembershipDiff {
  /** Pod address -> identity elements. */
  readonly identity: ElementChanges<IdentityElement>;
  /** World range -> identity elements (Membership.world). */
  readonly world: ElementChanges<IdentityElement>;
  readonly pairs: ElementChanges<PairElement>;
  readonly ports: ElementChanges<PortElement>;
  readonly isolated: Readonly<Record<Direction, ElementChanges<number>>>;
}

export interface MembershipScope {
  /**
   * A node-local table: decisions only for the identities of these pods (`namespace/name`), the
   * pods that run on the node. The ip -> identity maps stay cluster-wide (every remote address
   * needs its identity). Default: every identity of the cluster.
   */
  readonly localPods?: ReadonlySet<string>;
  /**
   * Node-local tables only: identity keys (Identity.key, stable across numbering) whose subject
   * rows are kept although no local pod has them any more ("lingering" subjects), so that a
   * subject that comes back soon (a rolling update: a pod deleted here and another started
   * with the same labels) costs only its address elements, and one that leaves costs no row
   * deletes. A membership records the keys that do linger (`Membership.scope.lingering`): those
   * asked for that still exist as identities and are not local subjects; a key whose identity
   * vanishes from the cluster drops out with its row, a key a local pod brings back is a local
   * subject again. Safe (see the comment below): a lingering row only judges the remote end
   * of flows, with the decisions that end's own node applies.
   */
  readonly lingering?: ReadonlySet<string>;
  /**
   * Node-local tables only: the subjects of `previous` (computeMembership's, updateMembership's)
   * that no local pod has any more linger, as if their keys were in `lingering`, instead of
   * leaving with their rows. Recorded on the membership's scope.
   */
  readonly lingerDeparted?: boolean;
  /** Give up (DecisionLimitError, decisions.ts) past this many identity pairs in a direction. */
  readonly maxPairsPerDirection?: number;
}

/*
 * Why a lingering subject row is safe (MembershipScope.lingering). The forward chain
 * (nftables/ruleset.ts) judges every flow on both sides: egress with the source's identity as
 * the subject, ingress with the destination's; a side whose subject has no pair element and is
 * not in the isolated set is allowed. A node-local table holds the rows of the identities of
 * the node's own pods, equal to the cluster-wide table's rows for them (scope.test.ts), so the
 * protected end is always judged where it lives (egress at the source's node, ingress at the
 * destination's) and the remote end's side passes here. A lingering row for an identity S no
 * local pod has is also the cluster-wide row for S (the same computation, kept current by
 * updateMembership as peers come and go), and it only ever judges the remote end's side of
 * flows whose remote end is a pod of identity S: a packet from a remote S pod has already
 * passed S's egress on its own node, which applied those same decisions (so it passes here
 * too); a packet towards a remote S pod is dropped here exactly when S's node would drop it at
 * ingress (earlier, and counted here). The local rows are unchanged, so the table never allows
 * what the plain node-local table denies, and denies in addition only flows the cluster-wide
 * table, the reference meaning, denies on the other end (for ends the forward hook of their own
 * node never sees, host-network pods, it enforces that meaning where the plain table did not).
 */

/** A Membership, not an assignment map (which may be an OverlayMap rather than a Map). */
function isMembership(x: Membership | ReadonlyMap<string, number>): x is Membership {
  return (x as Partial<Membership>).identityElements !== undefined;
}

export function computeMembership(program: Program, cluster: Cluster, previous?: Membership | ReadonlyMap<string, number>, scope: MembershipScope = {}): Membership {
  const prev = previous === undefined ? undefined : isMembership(previous) ? previous.assignment : previous;
  const identities = computeIdentities(program, cluster, { previous: prev as ReadonlyMap<string, number> | undefined });
  const counts = scope.localPods ? localSubjectCounts(identities, cluster, scope.localPods) : undefined;
  const assignment = new Map(identities.identities.map((i) => [i.key, i.id]));
  // node-local: the local subjects and the lingering ones (the keys asked for, and with
  // lingerDeparted the subjects of `previous`, that exist and are not local subjects)
  let lingering: Set<string> | undefined;
  if (counts) {
    lingering = new Set();
    const ask = (key: string) => {
      const id = assignment.get(key);
      if (id !== undefined && !counts.has(id)) lingering!.add(key);
    };
    for (const key of scope.lingering ?? []) ask(key);
    if (scope.lingerDeparted && previous !== undefined && isMembership(previous)) for (const key of localSubjectKeys(previous)) ask(key);
  }
  const subjects = counts ? new Set(counts.keys()) : undefined;
  for (const key of lingering ?? []) subjects!.add(assignment.get(key)!);
  const decisions = computeDecisions(program, cluster, identities, { subjects, maxPairsPerDirection: scope.maxPairsPerDirection });
  const previousLayout = previous !== undefined && isMembership(previous) ? previous.layout : undefined;
  const m: Membership = {
    identities,
    decisions,
    identityElements: identities.elements,
    world: mergeWorld(identities.elements),
    decisionElements: decisions.elements,
    isolated: decisions.isolated,
    layout: layoutDecisions(decisions.elements, isolationOf(decisions.isolated), previousLayout),
    ...(scope.localPods ? { scope: recordedScope(scope.localPods, lingering!, scope.lingerDeparted) } : {}),
    assignment,
  };
  if (counts) localCounts.set(m, counts);
  sourceClusters.set(m, cluster);
  return m;
}

/** The scope a node-local membership records: its local pods, the keys that do linger (when any), the lingerDeparted flag. */
function recordedScope(localPods: ReadonlySet<string>, lingering: ReadonlySet<string>, lingerDeparted: boolean | undefined): MembershipScope {
  return { localPods, ...(lingering.size > 0 ? { lingering } : {}), ...(lingerDeparted ? { lingerDeparted: true } : {}) };
}

/** Whether two key sets (undefined = empty) hold the same keys. */
function sameKeys(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): boolean {
  if (a === b) return true;
  if ((a?.size ?? 0) !== (b?.size ?? 0)) return false;
  for (const k of a ?? []) if (!b!.has(k)) return false;
  return true;
}

/**
 * The identity keys of a node-local membership's local subjects (without its lingering ones):
 * from its kept local counts, else one pass over its elements (a full computation's cost).
 */
function localSubjectKeys(m: Membership): string[] {
  const local = m.scope?.localPods;
  if (!local) return [];
  let ids: Iterable<number> | undefined = localCounts.get(m)?.keys();
  if (!ids) {
    const found = new Set<number>();
    for (const e of m.identityElements) if (e.pod !== undefined && local.has(e.pod)) found.add(e.identity);
    ids = found;
  }
  const keys: string[] = [];
  for (const id of ids) {
    const key = m.identities.byId.get(id)?.key;
    if (key !== undefined) keys.push(key);
  }
  return keys;
}

/**
 * The world ranges as the kernel holds them: the world elements of a carved, sorted element list,
 * stretched over the pod addresses between them (a pod address is answered by the exact pod map,
 * looked up after the world map) and merged where neighbours have the same identity, so that
 * they cover each family's whole address space (the ruleset loads both ends' world identities
 * in one rule) and do not change when pods change labels. A range stretched over a pod address
 * is only ever read for that address after the pod is gone, and then the carve gives the
 * address its own world element again.
 */
export function mergeWorld(elements: readonly IdentityElement[]): IdentityElement[] {
  // Runs of (family, first, identity): a run ends where the next one starts (or at the top of
  // the family's space), so its own last address is never needed; one object per run.
  const out: IdentityElement[] = [];
  const top: Record<Family, bigint> = { 4: (1n << 32n) - 1n, 6: (1n << 128n) - 1n };
  let family: Family | undefined;
  let first = 0n;
  let identity = 0;
  const close = (end: bigint) => {
    if (family !== undefined) out.push({ family, first, last: end, identity });
  };
  for (const e of elements) {
    if (e.pod !== undefined) continue;
    if (family === e.family) {
      if (identity === e.identity) continue;
      close(e.first - 1n); // stretched over the pod addresses between the two
      first = e.first;
    } else {
      if (family !== undefined) close(top[family]);
      family = e.family;
      first = 0n;
    }
    identity = e.identity;
  }
  if (family !== undefined) close(top[family]);
  return out;
}

export function identityElementKey(e: IdentityElement): string {
  return `${e.family}/${e.first}-${e.last}`;
}

export function decisionElementKey(e: DecisionElement): string {
  return `${e.direction}/${e.subject}/${e.peer}/${e.protoFrom}-${e.protoTo}/${e.portFrom}-${e.portTo}`;
}

function pairKey(e: PairElement): string {
  return `${e.direction}/${e.subject}/${e.peer}`;
}

function portKey(e: PortElement): string {
  return `${e.direction}/${e.profile}/${e.protoFrom}-${e.protoTo}/${e.portFrom}-${e.portTo}`;
}

function diffBy<T>(before: readonly T[], after: readonly T[], key: (t: T) => string, value: (t: T) => string): ElementChanges<T> {
  const old = new Map(before.map((e) => [key(e), e]));
  const now = new Map(after.map((e) => [key(e), e]));
  const add: T[] = [];
  const del: T[] = [];
  for (const [k, e] of old) {
    const n = now.get(k);
    if (!n || value(n) !== value(e)) del.push(e);
  }
  for (const [k, e] of now) {
    const o = old.get(k);
    if (!o || value(o) !== value(e)) add.push(e);
  }
  return { add, delete: del };
}

function compareIdentityElements(a: IdentityElement, b: IdentityElement): number {
  return a.family - b.family || (a.first < b.first ? -1 : a.first > b.first ? 1 : 0) || (a.last < b.last ? -1 : a.last > b.last ? 1 : 0);
}

/**
 * diffBy for two arrays strictly sorted by the element key (what computeMembership produces):
 * one merge pass, no key strings. Same result as diffBy (deletes in `before` order, adds in
 * `after` order); undefined if either array turns out not to be strictly sorted.
 */
function mergeDiff<T>(before: readonly T[], after: readonly T[], compare: (a: T, b: T) => number, sameValue: (a: T, b: T) => boolean): ElementChanges<T> | undefined {
  if (before === after) return { add: [], delete: [] };
  const add: T[] = [];
  const del: T[] = [];
  let i = 0;
  let j = 0;
  while (i < before.length || j < after.length) {
    if (i > 0 && i < before.length && compare(before[i - 1], before[i]) >= 0) return undefined;
    if (j > 0 && j < after.length && compare(after[j - 1], after[j]) >= 0) return undefined;
    const c = i >= before.length ? 1 : j >= after.length ? -1 : compare(before[i], after[j]);
    if (c < 0) del.push(before[i++]);
    else if (c > 0) add.push(after[j++]);
    else {
      if (before[i] !== after[j] && !sameValue(before[i], after[j])) {
        del.push(before[i]);
        add.push(after[j]);
      }
      i++;
      j++;
    }
  }
  return { add, delete: del };
}

/** Element changes from `before` to `after`: apply deletes first, then adds, in one batch. */
export function membershipDiff(before: Membership | undefined, after: Membership): MembershipDiff {
  if (before === after) return emptyDiff();
  const change = before ? changes.get(after) : undefined;
  if (before && change && change.from === tokens.get(before)) return recordedDiff(before, after, change);
  // a pod address that became a world range of its own (or the reverse) changes maps, even with the same identity
  const carved =
    mergeDiff(before?.identityElements ?? [], after.identityElements, compareIdentityElements, sameMapEntry) ??
    diffBy(before?.identityElements ?? [], after.identityElements, identityElementKey, (e) => `${e.identity}${e.pod === undefined ? '' : '/pod'}`);
  const isPod = (e: IdentityElement) => e.pod !== undefined;
  const identity = { add: carved.add.filter(isPod), delete: carved.delete.filter(isPod) };
  const world = mergeDiff(before?.world ?? [], after.world, compareIdentityElements, sameIdentity) ?? diffBy(before?.world ?? [], after.world, identityElementKey, (e) => String(e.identity));
  const pairs = mergeDiff(before?.layout.pairs ?? [], after.layout.pairs, comparePairs, sameProfile) ?? diffBy(before?.layout.pairs ?? [], after.layout.pairs, pairKey, (e) => String(e.profile));
  const ports = mergeDiff(before?.layout.ports ?? [], after.layout.ports, comparePorts, sameVerdict) ?? diffBy(before?.layout.ports ?? [], after.layout.ports, portKey, (e) => `${e.rule.action}/${e.rule.cookie}`);
  return { identity, world, pairs, ports, isolated: isolationDiff(before, after) };
}

const compareNumbers = (a: number, b: number) => a - b;
const sameIdentity = (a: IdentityElement, b: IdentityElement) => a.identity === b.identity;
/** Same identity in the same kernel map (pod addresses and world ranges are held apart). */
const sameMapEntry = (a: IdentityElement, b: IdentityElement) => a.identity === b.identity && (a.pod === undefined) === (b.pod === undefined);
const sameProfile = (a: PairElement, b: PairElement) => a.profile === b.profile;
const sameVerdict = (a: PortElement, b: PortElement) => a.rule.action === b.rule.action && a.rule.cookie === b.rule.cookie;

function emptyDiff(): MembershipDiff {
  const none = () => ({ add: [], delete: [] });
  return { identity: none(), world: none(), pairs: none(), ports: none(), isolated: { egress: none(), ingress: none() } };
}

function isolationDiff(before: Membership | undefined, after: Membership): Record<Direction, ElementChanges<number>> {
  const isolated = {} as Record<Direction, ElementChanges<number>>;
  // sorted id lists: one merge pass (diffBy's string keys cost ~0.1 ms per one-pod change at 5k pods)
  for (const d of DIRECTIONS) isolated[d] = mergeDiff(before?.isolated[d] ?? [], after.isolated[d], compareNumbers, () => true) ?? diffBy(before?.isolated[d] ?? [], after.isolated[d], String, String);
  return isolated;
}

/**
 * What updateMembership changed, kept for membershipDiff: every element it did not list is the
 * same object in both memberships, so the merge of the listed ones alone (each list sorted like
 * the whole) gives what the merge of the whole lists gives.
 */
interface Change {
  /** The token of the membership it was derived from (not the membership: a chain of updates must not keep every earlier one alive). */
  readonly from: object;
  /** Pod elements replaced (old, new), in element order. */
  readonly identityBefore: readonly IdentityElement[];
  readonly identityAfter: readonly IdentityElement[];
  /** Pair elements that left (any order) and came in (sorted). */
  readonly pairsGone: readonly PairElement[];
  readonly pairsNew: readonly PairElement[];
  /** Port elements of the profiles that vanished and appeared (sorted). */
  readonly portsGone: readonly PortElement[];
  readonly portsNew: readonly PortElement[];
  /** The isolated sets' changes (merging the whole sets per change showed up in profiles). */
  readonly isolated: Readonly<Record<Direction, ElementChanges<number>>>;
  readonly summary: UpdateSummary;
}

/** What updateMembership did besides moving addresses between identities. */
export interface UpdateSummary {
  /** Identities that appeared, and the numbers of those that vanished (ascending). */
  readonly added: number;
  readonly removed: readonly number[];
  /** Identities whose address families changed. */
  readonly refamilied: number;
  /** Subjects a node-local table gained or lost. */
  readonly subjectsChanged: number;
  /** Pod addresses carved out of world ranges (pods that appeared or gained an address). */
  readonly carved: number;
  /** Pod addresses given back to the world (pods that vanished or lost an address). */
  readonly freed: number;
}

/** The summary of the update that derived `after` from `before`; undefined when `after` was not derived from it (computed whole). */
export function updateSummary(before: Membership, after: Membership): UpdateSummary | undefined {
  const c = changes.get(after);
  return c && c.from === tokens.get(before) ? c.summary : undefined;
}

const changes = new WeakMap<Membership, Change>();
const tokens = new WeakMap<Membership, object>();

function tokenOf(m: Membership): object {
  let t = tokens.get(m);
  if (!t) tokens.set(m, (t = {}));
  return t;
}

function recordedDiff(before: Membership, after: Membership, c: Change): MembershipDiff {
  const identity = mergeDiff(c.identityBefore, c.identityAfter, compareIdentityElements, sameIdentity) ?? diffBy(c.identityBefore, c.identityAfter, identityElementKey, (e) => String(e.identity));
  const world = mergeDiff(before.world, after.world, compareIdentityElements, sameIdentity) ?? diffBy(before.world, after.world, identityElementKey, (e) => String(e.identity));
  const gone = [...c.pairsGone].sort(comparePairs);
  const pairs = mergeDiff(gone, c.pairsNew, comparePairs, sameProfile) ?? diffBy(gone, c.pairsNew, pairKey, (e) => String(e.profile));
  const ports = mergeDiff(c.portsGone, c.portsNew, comparePorts, sameVerdict) ?? diffBy(c.portsGone, c.portsNew, portKey, (e) => `${e.rule.action}/${e.rule.cookie}`);
  return { identity, world, pairs, ports, isolated: c.isolated };
}

export function diffSize(d: MembershipDiff): number {
  let n = d.identity.add.length + d.identity.delete.length + d.world.add.length + d.world.delete.length + d.pairs.add.length + d.pairs.delete.length + d.ports.add.length + d.ports.delete.length;
  for (const dir of DIRECTIONS) n += d.isolated[dir].add.length + d.isolated[dir].delete.length;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Incremental: a few pods changed labels or named ports, appeared, vanished or changed
// addresses (same nodes and namespaces, same program). The result equals computeMembership(program, cluster, previous)
// element for element (identity representatives may differ: any member serves). Its cost is
// that of the change: what it needs besides binary searches (per-family element counts,
// identities.ts; the identities of the local pods; the decision rows, decision-rows.ts; the
// peer index, peer-index.ts; identity maps, overlay-map.ts) is derived from the previous
// membership's, and the flat decision and pair lists are only put back together when someone
// reads them.

/** Per membership of a node-local table: identity id -> addresses of the node's own pods in it (the subjects are its keys). */
const localCounts = new WeakMap<Membership, ReadonlyMap<number, number>>();

/**
 * The identities of the addresses the local pods own (the subjects of a node-local table), with
 * their address counts, without a pass over every element: the few local pods are found by name
 * and their addresses by binary search in the sorted elements; an address another pod owns is
 * not theirs.
 */
function localSubjectCounts(table: IdentityTable, cluster: Cluster, localPods: ReadonlySet<string>): Map<number, number> {
  const out = new Map<number, number>();
  for (const name of localPods) {
    const pod = findPod(cluster, name);
    if (!pod) continue;
    for (const text of pod.ips) {
      const e = elementAt(table, text);
      if (e?.pod === name) out.set(e.identity, (out.get(e.identity) ?? 0) + 1);
    }
  }
  return out;
}

function findPod(cluster: Cluster, name: string): Cluster['pods'][number] | undefined {
  // cluster.pods is sorted by namespace/name: binary search, then a linear check as a fallback.
  const pods = cluster.pods;
  const at = partitionPoint(0, pods.length, (i) => comparePodKey(pods[i], name) < 0);
  if (at < pods.length && comparePodKey(pods[at], name) === 0) return pods[at];
  // a list known sorted (compiler/model/cluster.ts markSortedPods): the pod is not there
  if (isSortedPods(pods)) return undefined;
  // (no string per pod: a pod that is gone, which the address path asks about, scans them all)
  const slash = name.indexOf('/');
  const namespace = name.slice(0, slash);
  const podName = name.slice(slash + 1);
  return pods.find((p) => p.name === podName && p.namespace === namespace);
}

/** The decision rows of a membership (decision-rows.ts): kept for derived memberships, split from the flat lists otherwise. */
const rowCache = new WeakMap<Membership, Rows>();

function rowsOf(m: Membership): Rows {
  let rows = rowCache.get(m);
  if (!rows) rowCache.set(m, (rows = splitRows(m.decisionElements, m.layout.pairs)));
  return rows;
}

/**
 * The profile the pair map gives (direction, subject, peer), or undefined: a lookup without
 * building the flat pair list of a derived membership (its rows are searched), for readers
 * that ask about a few pairs (the conntrack flush's judge).
 */
export function pairProfile(m: Membership, direction: Direction, subject: number, peer: number): number | undefined {
  const rows = rowCache.get(m);
  if (rows) {
    const row = rows.get(rowKey(direction, subject));
    return row ? pairsTowards(row, [peer])[0]?.profile : undefined;
  }
  const pairs = m.layout.pairs;
  const want = { direction, subject, peer };
  const at = partitionPoint(0, pairs.length, (i) => comparePairs(pairs[i], want) < 0);
  return at < pairs.length && comparePairs(pairs[at], want) === 0 ? pairs[at].profile : undefined;
}

/** A membership whose decision and pair lists are flattened from `rows` on first read. */
function rowMembership(parts: Omit<Membership, 'decisions' | 'decisionElements' | 'layout'> & { layout: Omit<DecisionLayout, 'pairs'> }, rows: Rows): Membership {
  let decisionList: DecisionElement[] | undefined;
  let pairList: PairElement[] | undefined;
  const decisionElements = () => (decisionList ??= flatten(rows, (r) => r.decisions));
  const pairs = () => (pairList ??= flatten(rows, (r) => r.pairs));
  const { layout, isolated, ...rest } = parts;
  const m: Membership = {
    ...rest,
    isolated,
    decisions: {
      get elements() {
        return decisionElements();
      },
      isolated,
    },
    get decisionElements() {
      return decisionElements();
    },
    layout: {
      get pairs() {
        return pairs();
      },
      ports: layout.ports,
      profiles: layout.profiles,
    },
  };
  rowCache.set(m, rows);
  return m;
}

/** An address a pod owns (its element is `first === last` with `pod` set). */
interface OwnAddress {
  readonly family: Family;
  readonly value: bigint;
}

/** A pod address after the change, with the identity key it gets. */
interface PodAddressAfter extends OwnAddress {
  readonly key: string;
  readonly info: NewIdentityInfo;
}

/** What a new identity is built from (the first address that brings its key). */
interface NewIdentityInfo {
  readonly kind: 'pod' | 'world';
  readonly groups: readonly string[];
  readonly representative: Identity['representative'];
}

/** One changed pod: the addresses it owned, those it owns now, and whether a node-local table counts it before and after. */
interface PodPlan {
  readonly name: string;
  readonly old: readonly OwnAddress[];
  readonly now: readonly PodAddressAfter[];
  readonly wasLocal: boolean;
  readonly isLocal: boolean;
}

/**
 * Per membership: the cluster it was computed from. A changed pod's old addresses are its
 * addresses there that it owned (binary searches), which tells a pod that lost an address (or
 * vanished) from one that only changed labels. A cluster changed in place must keep its pods'
 * addresses (ClusterState.patchCachedPod does; pods that appear, vanish or change addresses
 * come in a new cluster object): the same object passed again answers for the old addresses.
 * A membership without one (a copy) asks the index below.
 */
const sourceClusters = new WeakMap<Membership, Cluster>();

/** The addresses the pod `name` owns in `previous`. */
function ownedAddresses(previous: Membership, name: string): readonly OwnAddress[] {
  const source = sourceClusters.get(previous);
  if (!source) return podAddressIndex(previous.identities).get(name) ?? [];
  const pod = findPod(source, name);
  if (!pod) return [];
  const elements = previous.identityElements;
  const out: OwnAddress[] = [];
  for (const text of pod.ips) {
    const ip = parseIp(text);
    if (!ip) continue;
    const at = elementIndex(elements, ip.family, ip.value);
    const e = elements[at];
    const owns = at >= 0 && e.pod === name && e.first === e.last;
    if (owns && !out.some((o) => o.family === ip.family && o.value === ip.value)) out.push({ family: ip.family, value: ip.value });
  }
  return out;
}

/**
 * Per table: pod `namespace/name` -> the addresses it owns, when the source cluster cannot
 * tell (one pass over the elements, ~40 ms at 50k pods: built only then, derived for the next
 * table once built).
 */
const podAddressIndexes = new WeakMap<IdentityTable, LayeredMap<string, readonly OwnAddress[]>>();

function podAddressIndex(table: IdentityTable): LayeredMap<string, readonly OwnAddress[]> {
  let ix = podAddressIndexes.get(table);
  if (ix) return ix;
  const byPod = new Map<string, OwnAddress[]>();
  for (const e of table.elements) {
    if (e.pod === undefined) continue;
    let list = byPod.get(e.pod);
    if (!list) byPod.set(e.pod, (list = []));
    list.push({ family: e.family, value: e.first });
  }
  podAddressIndexes.set(table, (ix = LayeredMap.of(byPod)));
  return ix;
}

/** Node addresses as "family/value", per node list: a pod address there may carry a nodes-peer class (the full computation handles those). */
const nodeAddressSets = new WeakMap<Cluster['nodes'], ReadonlySet<string>>();

function nodeAddresses(nodes: Cluster['nodes']): ReadonlySet<string> {
  let set = nodeAddressSets.get(nodes);
  if (set) return set;
  const out = new Set<string>();
  for (const n of nodes) {
    for (const t of n.ips) {
      const ip = parseIp(t);
      if (ip) out.add(`${ip.family}/${ip.value}`);
    }
  }
  nodeAddressSets.set(nodes, (set = out));
  return set;
}

/**
 * The membership after the pods named in `changedPods` (`namespace/name`) changed labels or
 * named ports, appeared, vanished, or gained or lost addresses, everything else as in
 * `previous`; `scope` is the new scope (default: previous.scope), whose local pods may differ
 * from the previous ones only in the named pods (a new set: the previous one must not have been
 * changed in place). A pod that moves into an identity that
 * already exists changes only its ip -> identity elements (decisions are shared with
 * `previous`); an address that appears inside a world range is carved out of it, one that
 * goes back to the world is merged with its world neighbours of the same class (as
 * computeIdentities carves); a new identity (or one that disappears or gains/loses an address
 * family) gets its decision rows and columns recomputed and spliced in. What the path cannot
 * do exactly falls back to computeMembership: a scope of another kind or whose other pods
 * changed, an address another pod owns or shares (the table's warnings), an unparseable new
 * address, an address of a node when a nodes peer exists, nodes or namespaces changes (the
 * caller's).
 */
export function updateMembership(previous: Membership, program: Program, cluster: Cluster, changedPods: readonly string[], scope: MembershipScope | undefined = previous.scope): Membership {
  const full = () => computeMembership(program, cluster, previous, scope);
  const oldLocal = previous.scope?.localPods;
  const newLocal = scope?.localPods;
  const names = [...new Set(changedPods)];
  if ((oldLocal === undefined) !== (newLocal === undefined) || !localPodsDifferOnlyIn(oldLocal, newLocal, names)) return full();
  const classifier = new PodClassifier(program, cluster);
  const plans = planPods(previous, cluster, classifier, names, oldLocal, newLocal);
  if (!plans) return full();
  const edit = editElements(previous, plans, classifier);
  if (!edit) return full();
  const localMoves = plans.some((p) => p.wasLocal !== p.isLocal || (p.isLocal && edit.touchedPods.has(p.name)));
  // a lingering set asked to change (the engine's GC drops a key) changes rows without any pod
  const lingerChanged = newLocal !== undefined && !sameKeys(scope?.lingering, previous.scope?.lingering);
  if (edit.before.length === 0 && edit.after.length === 0 && !localMoves && !lingerChanged) return previous;
  const step = nextIdentities(previous, edit);
  const local = nextSubjects(previous, step, nextLocalCounts(previous, cluster, plans, step.idOf), scope);
  const elements = step.table.elements;
  // the index only gets a layer when addresses moved (a layer per relabel would flatten the whole index every few of them)
  const index = podAddressIndexes.get(previous.identities);
  if (index) podAddressIndexes.set(step.table, edit.addressesChanged ? nextPodAddressIndex(index, plans) : index);
  const world = edit.addressesChanged ? nextWorld(previous.world, elements, edit) : previous.world;
  const nextScope = scope?.localPods
    ? scope === previous.scope && sameKeys(local.lingering, previous.scope.lingering)
      ? previous.scope
      : recordedScope(scope.localPods, local.lingering, scope.lingerDeparted)
    : undefined;
  const change = {
    from: tokenOf(previous),
    identityBefore: edit.before.sort(compareIdentityElements),
    identityAfter: edit.after.map(step.resolve).sort(compareIdentityElements),
  };
  const { added, removed, refamilied } = step;
  const summary: UpdateSummary = {
    added: added.size,
    removed: [...removed].map((k) => previous.assignment.get(k)!).sort((a, b) => a - b),
    refamilied: refamilied.size,
    subjectsChanged: local.gained.size + local.lost.size,
    carved: edit.carved,
    freed: edit.freed,
  };
  if (added.size === 0 && removed.size === 0 && refamilied.size === 0 && local.gained.size === 0 && local.lost.size === 0) {
    // Same identities (same keys and numbers) and subjects: the assignment and decisions are
    // shared (read through the shared decision table, which may flatten its rows on first read).
    const decisions = previous.decisions;
    const next: Membership = {
      identities: step.table,
      decisions,
      identityElements: elements,
      world,
      get decisionElements() {
        return decisions.elements;
      },
      isolated: previous.isolated,
      layout: previous.layout,
      ...(nextScope ? { scope: nextScope } : {}),
      assignment: previous.assignment,
    };
    const rows = rowCache.get(previous);
    if (rows) rowCache.set(next, rows);
    if (local.counts) localCounts.set(next, local.counts);
    sourceClusters.set(next, cluster);
    changes.set(next, { ...change, pairsGone: [], pairsNew: [], portsGone: [], portsNew: [], isolated: { egress: NO_CHANGE, ingress: NO_CHANGE }, summary });
    return next;
  }
  const keyChanges = new Map<string, number | undefined>();
  for (const key of removed) keyChanges.set(key, undefined);
  for (const key of added) keyChanges.set(key, step.idOf(key));
  const identities = step.table.identities;
  // a new map object when identities changed (dataplane/policy/incremental.ts tells the cases apart by it)
  const assignment = added.size + removed.size + refamilied.size > 0 ? OverlayMap.derive(previous.assignment, keyChanges, () => new Map(identities.map((i) => [i.key, i.id]))) : previous.assignment;
  const d = spliceDecisions(previous, program, cluster, step, local);
  const next = rowMembership(
    {
      identities: step.table,
      identityElements: elements,
      world,
      isolated: d.isolated,
      layout: { ports: d.laid.ports, profiles: d.laid.profiles },
      ...(nextScope ? { scope: nextScope } : {}),
      assignment,
    },
    d.rows,
  );
  if (local.counts) localCounts.set(next, local.counts);
  sourceClusters.set(next, cluster);
  changes.set(next, { ...change, pairsGone: d.pairsGone, pairsNew: d.laid.added, portsGone: d.laid.portsGone, portsNew: d.laid.portsNew, isolated: d.isolatedChanges, summary });
  return next;
}

/** Whether two local-pod sets hold the same pods apart from `names` (the same set object: yes). */
function localPodsDifferOnlyIn(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined, names: readonly string[]): boolean {
  if (a === b || a === undefined || b === undefined) return true;
  const changed = new Set(names);
  for (const n of a) if (!b.has(n) && !changed.has(n)) return false;
  for (const n of b) if (!a.has(n) && !changed.has(n)) return false;
  return true;
}

/** Per changed pod: the addresses it owned and those it owns now with their keys; undefined when the one-pod path cannot be exact. */
function planPods(previous: Membership, cluster: Cluster, classifier: PodClassifier, names: readonly string[], oldLocal: ReadonlySet<string> | undefined, newLocal: ReadonlySet<string> | undefined): PodPlan[] | undefined {
  const plans: PodPlan[] = [];
  let addressesChange = false;
  for (const name of names) {
    const old = ownedAddresses(previous, name);
    const pod = findPod(cluster, name);
    const now: PodAddressAfter[] = [];
    if (pod) {
      const groups = classifier.groupsOf(pod);
      const ports = classifier.portKey(pod);
      const observed = groups.length > 0 || ports !== '';
      const seen = new Set<string>();
      for (const text of pod.ips) {
        const ip = parseIp(text);
        // an unparseable address of a known pod is already among the table's warnings; a new one would add one
        if (!ip) {
          if (old.length === 0) return undefined;
          continue;
        }
        const at = `${ip.family}/${ip.value}`;
        if (seen.has(at)) continue; // listed twice: one element, as computeIdentities gives
        seen.add(at);
        const key = PodClassifier.key(groups, ports, classifier.address.classOf(ip.family, ip.value));
        const representative = { kind: 'pod' as const, pod, namespaceLabels: classifier.namespaceLabels(pod.namespace), ip: text };
        now.push({ family: ip.family, value: ip.value, key, info: { kind: observed ? 'pod' : 'world', groups, representative } });
      }
    }
    if (now.length !== old.length || now.some((a) => !old.some((o) => o.family === a.family && o.value === a.value))) addressesChange = true;
    plans.push({ name, old, now, wasLocal: oldLocal?.has(name) ?? false, isLocal: newLocal?.has(name) ?? false });
  }
  // Shared or unparseable addresses elsewhere (warnings): who owns an address may then change with it.
  if (addressesChange && previous.identities.warnings.length > 0) return undefined;
  return plans;
}

/** The index of the next table: the changed pods' address lists replaced. */
function nextPodAddressIndex(index: LayeredMap<string, readonly OwnAddress[]>, plans: readonly PodPlan[]): LayeredMap<string, readonly OwnAddress[]> {
  const edits = new Map<string, readonly OwnAddress[] | undefined>();
  for (const p of plans) edits.set(p.name, p.now.length > 0 ? p.now.map((a) => ({ family: a.family, value: a.value })) : undefined);
  return index.with(edits);
}

/**
 * The elements after the changes, with per-family element counts of every identity key they
 * touched. Identity keys without a number yet (new identities: numbers are given once every
 * new key is known) stand as negative placeholders until nextIdentities resolves them.
 */
interface ElementEdit {
  readonly elements: IdentityElement[];
  /** Identity key -> elements per family after the edit (keys touched only). */
  readonly counts: Map<string, { 4: number; 6: number }>;
  /** Placeholder -> key. */
  readonly placeholders: ReadonlyMap<number, string>;
  /** Elements put in with a placeholder identity (to be renumbered). */
  readonly pending: readonly IdentityElement[];
  /** Pod elements taken out or replaced, and those put in (placeholders unresolved). */
  readonly before: IdentityElement[];
  readonly after: IdentityElement[];
  /** How a new key's identity is built. */
  readonly infos: ReadonlyMap<string, NewIdentityInfo>;
  /** Pods with an element that changed (a node-local table recounts only these). */
  readonly touchedPods: ReadonlySet<string>;
  /**
   * World (non-pod) elements of the list before the edit that it took out, and those it put in
   * that the list after it holds (nextWorld tells from them whether the kernel's merged ranges
   * moved; an element put in and taken out again, a free then a carve of the same range, is in
   * neither).
   */
  readonly worldGone: readonly IdentityElement[];
  readonly worldNew: readonly IdentityElement[];
  readonly carved: number;
  readonly freed: number;
  readonly addressesChanged: boolean;
}

/**
 * Applies the plans to a copy of the elements: addresses a pod no longer owns go back to the
 * world (merged with world neighbours of their class), addresses it keeps get their new key,
 * new addresses are carved out of the world range holding them. Undefined when a new address
 * is not in a world range (another pod owns it) or is a node's address under a nodes peer.
 */
function editElements(previous: Membership, plans: readonly PodPlan[], classifier: PodClassifier): ElementEdit | undefined {
  const table = previous.identities;
  const perFamily = familyCounts(table);
  const elements = previous.identityElements.slice();
  const counts = new Map<string, { 4: number; 6: number }>();
  const placeholderOf = new Map<string, number>();
  const placeholders = new Map<number, string>();
  const infos = new Map<string, NewIdentityInfo>();
  const pending: IdentityElement[] = [];
  const before: IdentityElement[] = [];
  const after: IdentityElement[] = [];
  const touchedPods = new Set<string>();
  const hasNodePeers = classifier.address.peers.some((p) => p.key.startsWith('nodes:'));
  const onNode = (a: OwnAddress) => hasNodePeers && nodeAddresses(classifier.cluster.nodes).has(`${a.family}/${a.value}`);
  const keyOf = (id: number) => (id < 0 ? placeholders.get(id)! : table.byId.get(id)!.key);
  const countOf = (key: string) => {
    let c = counts.get(key);
    if (!c) {
      const id = previous.assignment.get(key);
      counts.set(key, (c = id === undefined ? { 4: 0, 6: 0 } : { ...perFamily(id) }));
    }
    return c;
  };
  const idFor = (key: string, info: NewIdentityInfo): number => {
    const id = previous.assignment.get(key) ?? placeholderOf.get(key);
    if (id !== undefined) return id;
    const placeholder = -1 - placeholderOf.size;
    placeholderOf.set(key, placeholder);
    placeholders.set(placeholder, key);
    infos.set(key, info);
    return placeholder;
  };
  /** elements[at, at + count) replaced by `items`, counts and pod records kept. */
  // world elements of the original list taken out, and those put in that are still there (an
  // element put in and taken out again by the same edit is in neither list: in neither sequence)
  const worldGone: IdentityElement[] = [];
  const worldNew = new Set<IdentityElement>();
  const replace = (at: number, count: number, items: IdentityElement[]) => {
    for (const e of elements.slice(at, at + count)) {
      countOf(keyOf(e.identity))[e.family]--;
      if (e.pod === undefined && !worldNew.delete(e)) worldGone.push(e);
      if (e.pod !== undefined) {
        const was = after.indexOf(e);
        if (was >= 0) after.splice(was, 1);
        else before.push(e);
        touchedPods.add(e.pod);
      }
    }
    for (const e of items) {
      countOf(keyOf(e.identity))[e.family]++;
      if (e.pod === undefined) worldNew.add(e);
      if (e.identity < 0) pending.push(e);
      if (e.pod !== undefined) {
        after.push(e);
        touchedPods.add(e.pod);
      }
    }
    elements.splice(at, count, ...items);
  };
  const owned = (p: PodPlan, a: OwnAddress) => p.now.some((n) => n.family === a.family && n.value === a.value);
  const wasOwned = (p: PodPlan, a: OwnAddress) => p.old.some((o) => o.family === a.family && o.value === a.value);
  let carved = 0;
  let freed = 0;
  // Addresses given up first: another changed pod may take one of them.
  for (const p of plans) {
    for (const a of p.old) {
      if (owned(p, a)) continue;
      if (onNode(a)) return undefined;
      freeAddress(elements, a, classifier, idFor, replace);
      freed++;
    }
  }
  for (const p of plans) {
    for (const a of p.now) {
      const at = elementIndex(elements, a.family, a.value);
      const e = elements[at];
      if (wasOwned(p, a)) {
        const id = idFor(a.key, a.info);
        if (e.identity !== id) replace(at, 1, [{ ...e, identity: id }]);
        continue;
      }
      if (e.pod !== undefined || onNode(a)) return undefined;
      replace(at, 1, carveAddress(e, a.value, { family: a.family, first: a.value, last: a.value, identity: idFor(a.key, a.info), pod: p.name }));
      carved++;
    }
  }
  return { elements, counts, placeholders, pending, before, after, infos, touchedPods, worldGone, worldNew: [...worldNew], carved, freed, addressesChanged: carved + freed > 0 };
}

/** A world range with one address carved out: the pod element between what is left on either side (same world identity). */
function carveAddress(range: IdentityElement, value: bigint, pod: IdentityElement): IdentityElement[] {
  const out: IdentityElement[] = [];
  if (range.first < value) out.push({ family: range.family, first: range.first, last: value - 1n, identity: range.identity });
  out.push(pod);
  if (value < range.last) out.push({ family: range.family, first: value + 1n, last: range.last, identity: range.identity });
  return out;
}

/**
 * A pod address back to the world: its world key is its address class's (classes change only
 * at cidr boundaries and node addresses, and a pod address never moves them), and it joins a
 * neighbouring world range of the same identity, as computeIdentities merges the ranges it
 * carves between pod addresses.
 */
function freeAddress(
  elements: IdentityElement[],
  a: OwnAddress,
  classifier: PodClassifier,
  idFor: (key: string, info: NewIdentityInfo) => number,
  replace: (at: number, count: number, items: IdentityElement[]) => void,
): void {
  const at = elementIndex(elements, a.family, a.value);
  const key = `world;a=${classifier.address.classOf(a.family, a.value)}`;
  const id = idFor(key, { kind: 'world', groups: [], representative: { kind: 'external', ip: formatIp({ family: a.family, value: a.value }) } });
  const joins = (e: IdentityElement | undefined) => e !== undefined && e.pod === undefined && e.family === a.family && e.identity === id;
  const left = joins(elements[at - 1]) ? elements[at - 1] : undefined;
  const right = joins(elements[at + 1]) ? elements[at + 1] : undefined;
  const merged: IdentityElement = { family: a.family, first: left ? left.first : a.value, last: right ? right.last : a.value, identity: id };
  replace(left ? at - 1 : at, 1 + (left ? 1 : 0) + (right ? 1 : 0), [merged]);
}

/**
 * The kernel's world ranges after pod addresses were carved or freed: `previous` itself when
 * the edit provably leaves mergeWorld's runs alone (worldKept), else mergeWorld of the new
 * elements (a pass over every element: ~1-1.5 ms at 50k pods, once per pod added or deleted),
 * and `previous` again when that turns out equal, so an unchanged world shares its array.
 */
function nextWorld(previous: readonly IdentityElement[], elements: readonly IdentityElement[], edit: ElementEdit): readonly IdentityElement[] {
  if (worldKept(elements, edit)) return previous;
  const world = mergeWorld(elements);
  if (world.length !== previous.length) return world;
  for (let i = 0; i < world.length; i++) if (compareIdentityElements(world[i], previous[i]) !== 0 || world[i].identity !== previous[i].identity) return world;
  return previous;
}

/**
 * Whether mergeWorld gives the same runs before and after the edit, from the world elements it
 * took out and put in alone. mergeWorld reads the world elements in order as (first, identity)
 * and starts a run wherever the identity changes. The edit changes that sequence only between
 * world elements it left alone; between two such elements q and r, the run starts among the
 * elements taken out (then r) and among those put in (then r), each read after q, must be the
 * same (same first address, same identity), and then every run, its start and its end is. The
 * common cases pass: a carve leaves its range's identity on both sides of the pod (the piece
 * before it starts where the range started), a freed address joins neighbours of its class.
 * A new world identity, a change before the first world element a family keeps, or a class
 * boundary say no (and mergeWorld decides).
 */
function worldKept(elements: readonly IdentityElement[], edit: ElementEdit): boolean {
  if (edit.worldGone.length + edit.worldNew.length === 0) return true;
  const changed = new Set(edit.worldNew);
  // per kept predecessor q (its index in the new elements): the elements taken out and put in after it
  const groups = new Map<number, { gone: IdentityElement[]; now: IdentityElement[] }>();
  const place = (x: IdentityElement, own: boolean, side: 'gone' | 'now'): boolean => {
    if (x.identity < 0) return false; // a new world identity
    let i = elementIndex(elements, x.family, x.first);
    if (own) i--;
    for (; i >= 0; i--) {
      const e = elements[i];
      if (e.family !== x.family) return false;
      if (e.pod !== undefined || changed.has(e) || e.first >= x.first) continue;
      let g = groups.get(i);
      if (!g) groups.set(i, (g = { gone: [], now: [] }));
      g[side].push(x);
      return true;
    }
    return false;
  };
  for (const x of edit.worldGone) if (!place(x, false, 'gone')) return false;
  for (const x of edit.worldNew) if (!place(x, true, 'now')) return false;
  const byFirst = (a: IdentityElement, b: IdentityElement) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0);
  for (const [q, g] of groups) {
    const before = runStarts(elements[q].identity, g.gone.sort(byFirst));
    const after = runStarts(elements[q].identity, g.now.sort(byFirst));
    if (before.last !== after.last || before.starts.length !== after.starts.length) return false;
    for (let k = 0; k < before.starts.length; k++) {
      if (before.starts[k].first !== after.starts[k].first || before.starts[k].identity !== after.starts[k].identity) return false;
    }
  }
  return true;
}

/** The elements of a world sequence (in order, after an element of identity `from`) that start a run, and the identity it ends with. */
function runStarts(from: number, items: readonly IdentityElement[]): { starts: IdentityElement[]; last: number } {
  const starts: IdentityElement[] = [];
  let last = from;
  for (const e of items) {
    if (e.identity !== last) starts.push(e);
    last = e.identity;
  }
  return { starts, last };
}

/** The identity table after the edit, and which identity keys appeared, vanished or changed families. */
interface IdentityStep {
  readonly table: IdentityTable;
  readonly added: ReadonlySet<string>;
  readonly removed: ReadonlySet<string>;
  readonly refamilied: ReadonlySet<string>;
  /** Number of a key after the change. */
  readonly idOf: (key: string) => number;
  /** An element of the edit with its placeholder identity numbered. */
  readonly resolve: (e: IdentityElement) => IdentityElement;
}

function familiesOf(c: { 4: number; 6: number }): Family[] {
  return ([4, 6] as const).filter((f) => c[f] > 0);
}

function nextIdentities(previous: Membership, edit: ElementEdit): IdentityStep {
  const table = previous.identities;
  const counts = edit.counts;
  // Identities whose existence or families change.
  const removed = new Set<string>();
  const added = new Set<string>();
  const refamilied = new Set<string>();
  for (const [key, c] of counts) {
    const fams = familiesOf(c);
    const id = previous.assignment.get(key);
    const ident = id === undefined ? undefined : table.byId.get(id);
    if (!ident) {
      if (fams.length > 0) added.add(key);
    } else if (fams.length === 0) removed.add(key);
    else if (fams.join() !== ident.families.join()) refamilied.add(key);
  }
  // Numbers: surviving identities keep theirs; new keys hash in key order, probing past used ones.
  const removedIds = new Set([...removed].map((k) => previous.assignment.get(k)!));
  const newIds = new Map<string, number>();
  const taken = new Set<number>();
  const used = (id: number) => id === 0 || taken.has(id) || (table.byId.has(id) && !removedIds.has(id));
  for (const key of [...added].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    let id = fnv1a32(key) || 1;
    while (used(id)) id = (id + 1) >>> 0 || 1;
    taken.add(id);
    newIds.set(key, id);
  }
  const idOf = (key: string): number => previous.assignment.get(key) ?? newIds.get(key)!;
  const resolve = (e: IdentityElement): IdentityElement => (e.identity < 0 ? { ...e, identity: idOf(edit.placeholders.get(e.identity)!) } : e);
  const elements = edit.elements;
  for (const e of edit.pending) {
    const at = elementIndex(elements, e.family, e.first);
    if (elements[at] === e) elements[at] = resolve(e);
  }
  // Identities: the touched ones replaced, the vanished taken out, the new put in (sorted by id).
  const identities = table.identities.slice();
  const idChanges = new Map<number, Identity | undefined>();
  for (const [key, c] of counts) {
    const id = previous.assignment.get(key);
    if (id === undefined) continue;
    const at = positionOf(identities, id);
    if (removed.has(key)) {
      identities.splice(at, 1);
      idChanges.set(id, undefined);
      continue;
    }
    const i = identities[at];
    const next = { ...i, families: refamilied.has(key) ? familiesOf(c) : i.families, members: c[4] + c[6] };
    identities[at] = next;
    idChanges.set(id, next);
  }
  const addedIdentities: Identity[] = [];
  for (const key of added) {
    const info = edit.infos.get(key)!;
    const c = counts.get(key)!;
    const ident: Identity = { id: newIds.get(key)!, key, kind: info.kind, families: familiesOf(c), representative: info.representative, groups: info.groups as string[], members: c[4] + c[6] };
    addedIdentities.push(ident);
    identities.splice(idLowerBound(identities, ident.id), 0, ident);
    idChanges.set(ident.id, ident);
  }
  const byId = OverlayMap.derive(table.byId, idChanges, () => new Map(identities.map((i) => [i.id, i])));
  const nextTable: IdentityTable = { identities, byId, elements, warnings: table.warnings };
  derivePeerIndex(table.identities, identities, addedIdentities, [...removedIds].map((id) => table.byId.get(id)!));
  withIpv6Counts(table, nextTable, new Map([...counts].filter(([key]) => idOf(key) !== undefined).map(([key, c]) => [idOf(key), removed.has(key) ? 0 : c[6]])));
  return { table: nextTable, added, removed, refamilied, idOf, resolve };
}

/** The subjects of a node-local table after an update: its local counts, the keys that linger, and the subjects gained and lost (local or lingering). */
interface SubjectStep {
  /** Identity id -> addresses of the node's own pods in it (undefined: cluster-wide). */
  readonly counts?: ReadonlyMap<number, number>;
  /** The keys that linger (MembershipScope.lingering, as recorded). */
  readonly lingering: ReadonlySet<string>;
  /** Whether an identity (new numbering) has a row; undefined: every identity (cluster-wide). */
  readonly isSubject?: (id: number) => boolean;
  readonly gained: ReadonlySet<number>;
  readonly lost: ReadonlySet<number>;
}

/**
 * The subjects after the update: the local ones (nextLocalCounts) and the lingering ones (the
 * keys `scope.lingering` asks for, and with lingerDeparted the local subjects this update lost,
 * that still exist and are not local subjects: what computeMembership records), and which
 * subjects were gained or lost against the previous local and lingering ones. A subject that
 * moves between local and lingering keeps its row.
 */
function nextSubjects(previous: Membership, step: IdentityStep, local: LocalStep, scope: MembershipScope | undefined): SubjectStep {
  const counts = local.counts;
  if (!counts) return { lingering: new Set(), gained: local.gained, lost: local.lost };
  const exists = (key: string): number | undefined => (step.added.has(key) ? step.idOf(key) : step.removed.has(key) ? undefined : previous.assignment.get(key));
  const lingerIds = new Map<string, number>();
  const ask = (key: string) => {
    const id = exists(key);
    if (id !== undefined && !counts.has(id)) lingerIds.set(key, id);
  };
  for (const key of scope?.lingering ?? []) ask(key);
  if (scope?.lingerDeparted) {
    for (const id of local.lost) {
      const key = previous.identities.byId.get(id)?.key;
      if (key !== undefined) ask(key);
    }
  }
  const now = new Set(lingerIds.values());
  const before = new Set<number>();
  for (const key of previous.scope?.lingering ?? []) before.add(previous.assignment.get(key)!);
  const gained = new Set<number>();
  const lost = new Set<number>();
  for (const id of local.gained) if (!before.has(id)) gained.add(id);
  for (const id of now) if (!before.has(id) && !local.before.has(id)) gained.add(id);
  for (const id of local.lost) if (!now.has(id)) lost.add(id);
  for (const id of before) if (!now.has(id) && !counts.has(id)) lost.add(id);
  const isSubject = now.size === 0 ? (id: number) => counts.has(id) : (id: number) => counts.has(id) || now.has(id);
  return { counts, lingering: new Set(lingerIds.keys()), isSubject, gained, lost };
}

/** nextLocalCounts' answer: the local counts before and after, the local subjects gained and lost. */
interface LocalStep {
  readonly before: ReadonlyMap<number, number>;
  readonly counts?: ReadonlyMap<number, number>;
  readonly gained: Set<number>;
  readonly lost: Set<number>;
}

/**
 * Subjects of a node-local table that appear (an own pod's address in an identity no own
 * address had) or disappear (the last own address left it): the local address counts, with
 * each changed pod's old addresses taken out (when it was local) and its new ones put in (when
 * it is). Only a change of one of its own pods can change them (an identity only a remote pod
 * had never was a subject).
 */
function nextLocalCounts(previous: Membership, cluster: Cluster, plans: readonly PodPlan[], idOf: (key: string) => number): LocalStep {
  const gained = new Set<number>();
  const lost = new Set<number>();
  const local = previous.scope?.localPods;
  if (!local) return { before: new Map(), gained, lost };
  const elements = previous.identityElements;
  const before = localCounts.get(previous) ?? previousLocalCounts(previous, cluster, plans);
  const own = plans.filter((p) => p.wasLocal || p.isLocal);
  if (own.length === 0) return { before, counts: before, gained, lost };
  const counted = new Map(before);
  for (const p of own) {
    if (p.wasLocal) {
      for (const a of p.old) {
        const from = elements[elementIndex(elements, a.family, a.value)].identity;
        const n = counted.get(from)! - 1;
        if (n > 0) counted.set(from, n);
        else counted.delete(from);
      }
    }
    if (p.isLocal) for (const a of p.now) counted.set(idOf(a.key), (counted.get(idOf(a.key)) ?? 0) + 1);
  }
  for (const id of counted.keys()) if (!before.has(id)) gained.add(id);
  for (const id of before.keys()) if (!counted.has(id)) lost.add(id);
  return { before, counts: counted, gained, lost };
}

/** The local counts of `previous` when none were kept: from the new cluster, except the changed pods, whose old addresses are in the index. */
function previousLocalCounts(previous: Membership, cluster: Cluster, plans: readonly PodPlan[]): Map<number, number> {
  const local = previous.scope!.localPods!;
  const changed = new Set(plans.map((p) => p.name));
  const counts = localSubjectCounts(previous.identities, cluster, new Set([...local].filter((n) => !changed.has(n))));
  const elements = previous.identityElements;
  for (const p of plans) {
    if (!p.wasLocal) continue;
    for (const a of p.old) {
      const id = elements[elementIndex(elements, a.family, a.value)].identity;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  return counts;
}

/**
 * Decisions after identities appeared, vanished or changed families, or a node-local table
 * gained or lost subjects: the rows of the affected and lost subjects and the cells towards
 * affected peers leave; whole rows of new and gained subjects and the cells of every other
 * subject towards new peers come in (decisionCells), each spliced into its row.
 */
function spliceDecisions(
  previous: Membership,
  program: Program,
  cluster: Cluster,
  step: IdentityStep,
  local: SubjectStep,
): { rows: Rows; isolated: Record<Direction, number[]>; isolatedChanges: Record<Direction, ElementChanges<number>>; laid: LayoutChange; pairsGone: PairElement[] } {
  const affected = new Set<number>();
  for (const key of [...step.removed, ...step.refamilied]) affected.add(previous.assignment.get(key)!);
  const recompute = new Set<number>();
  for (const key of [...step.added, ...step.refamilied]) recompute.add(step.idOf(key));
  const isSubject = local.isSubject ?? ((id: number) => step.table.byId.has(id));
  const wholeRows = new Set<number>(local.gained);
  for (const id of recompute) if (isSubject(id)) wholeRows.add(id);
  const fresh = decisionCells(program, cluster, step.table, isSubject, wholeRows, recompute);
  // Rows that leave whole, and rows that lose their cells towards affected peers: only the
  // subjects a rule towards an affected peer applies to can have such cells (columnSubjects).
  const prevRows = rowsOf(previous);
  const rows = new Map(prevRows);
  const pairsGone: PairElement[] = [];
  const edited = new Set<number>();
  const dropped = new Set<number>([...affected, ...local.lost, ...wholeRows]);
  for (const d of DIRECTIONS) {
    for (const id of dropped) {
      const key = rowKey(d, id);
      const row = prevRows.get(key);
      if (!row) continue;
      rows.delete(key);
      pairsGone.push(...rowPairs(row));
    }
  }
  if (affected.size > 0) {
    const column = columnSubjects(program, cluster, previous.identities.identities, affected);
    for (const d of DIRECTIONS) {
      for (const id of column[d]) {
        if (dropped.has(id)) continue;
        const key = rowKey(d, id);
        const row = prevRows.get(key);
        if (!row) continue;
        const gone = pairsTowards(row, affected);
        if (gone.length === 0) continue;
        pairsGone.push(...gone);
        edited.add(key);
      }
    }
  }
  const isolated = {} as Record<Direction, number[]>;
  const isolatedChanges = {} as Record<Direction, ElementChanges<number>>;
  for (const d of DIRECTIONS) {
    // both sorted, and disjoint (the fresh ones are rows just dropped or new)
    const was = previous.isolated[d];
    const kept = was.filter((id) => !dropped.has(id));
    isolated[d] = mergeSorted(kept, fresh.isolated[d]);
    // only dropped rows can leave the set and only fresh rows enter it: the diff costs the change
    const now = new Set(fresh.isolated[d]);
    const left = kept.length === was.length ? [] : was.filter((id) => dropped.has(id) && !now.has(id));
    const entered = fresh.isolated[d].filter((id) => !(dropped.has(id) && sortedHas(was, id)));
    isolatedChanges[d] = left.length + entered.length === 0 ? NO_CHANGE : { add: entered, delete: left };
  }
  const freshElements: DecisionElement[] = [];
  for (const run of fresh.runs) for (const e of run.elements) freshElements.push(e);
  const laid = layoutChange(previous.layout, pairsGone, freshElements, isolationOf(isolated));
  // The fresh runs with their pair elements (laid.added is in run order), spliced into their rows.
  const freshByRow = new Map<number, { decisions: DecisionElement[]; pairs: PairElement[] }>();
  let p = 0;
  for (const run of fresh.runs) {
    const pairs: PairElement[] = [];
    while (p < laid.added.length && laid.added[p].direction === run.direction && laid.added[p].subject === run.subject) pairs.push(laid.added[p++]);
    freshByRow.set(rowKey(run.direction, run.subject), { decisions: run.elements, pairs });
  }
  for (const key of new Set([...edited, ...freshByRow.keys()])) {
    const add = freshByRow.get(key) ?? { decisions: [], pairs: [] };
    const row = editRow(rows.get(key), affected, add.decisions, add.pairs);
    if (row) rows.set(key, row);
    else rows.delete(key);
  }
  return { rows, isolated, isolatedChanges, laid, pairsGone };
}

const NO_CHANGE: ElementChanges<number> = { add: [], delete: [] };

/** Whether an ascending id list holds `id`. */
function sortedHas(list: readonly number[], id: number): boolean {
  const at = partitionPoint(0, list.length, (i) => list[i] < id);
  return at < list.length && list[at] === id;
}

/** Two ascending id lists as one. */
function mergeSorted(a: readonly number[], b: readonly number[]): number[] {
  if (b.length === 0) return a as number[];
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) out.push(j >= b.length || (i < a.length && a[i] < b[j]) ? a[i++] : b[j++]);
  return out;
}
