// Membership: the data half of the dataplane (ip -> identity, decisions, isolated subjects),
// which changes with the cluster while the rule skeleton does not. The node daemon calls
// computeMembership with the pods it sees and membershipDiff to get the element adds/deletes
// for one atomic batch. A one-pod label change that moves the pod into an identity that
// already exists (and leaves its old identity with members) changes exactly one ip -> identity
// element per address of the pod. updateMembership(previous, program, cluster, changedPods) is
// that path without the full recomputation: existing identity -> only the pod's ip -> identity
// elements change (decisions shared with `previous`); new/vanished identity -> only its decision
// row and column are computed and spliced into the rows they touch (decision-rows.ts), the
// column only for the subjects a rule towards the identity applies to (columnSubjects). Its
// result equals computeMembership's (incremental.test.ts, update-property.test.ts) and costs the
// change, not the table: no pass over every element, pair or identity. membershipDiff merges the
// two sorted element arrays (no key strings), or, for a membership updateMembership derived from
// `before`, only the elements it recorded as changed.

import type { Cluster } from '../model/cluster.js';
import type { Direction, Program } from '../ir/types.js';
import { computeIdentities, elementAt, elementIndex, familyCounts, PodClassifier, withIpv6Counts, type Identity, type IdentityElement, type IdentityTable } from './identities.js';
import { columnSubjects, computeDecisions, decisionCells, DIRECTIONS, idLowerBound, positionOf, type DecisionElement, type DecisionTable } from './decisions.js';
import { editRow, flatten, pairsTowards, rowKey, rowPairs, rowSubject, splitRows, type Rows } from './decision-rows.js';
import { OverlayMap } from './overlay-map.js';
import { derivePeerIndex } from './peer-index.js';
import { parseIp, type Family } from '../ir/cidr.js';
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
  /** Give up (DecisionLimitError, decisions.ts) past this many identity pairs in a direction. */
  readonly maxPairsPerDirection?: number;
}

/** A Membership, not an assignment map (which may be an OverlayMap rather than a Map). */
function isMembership(x: Membership | ReadonlyMap<string, number>): x is Membership {
  return (x as Partial<Membership>).identityElements !== undefined;
}

export function computeMembership(program: Program, cluster: Cluster, previous?: Membership | ReadonlyMap<string, number>, scope: MembershipScope = {}): Membership {
  const prev = previous === undefined ? undefined : isMembership(previous) ? previous.assignment : previous;
  const identities = computeIdentities(program, cluster, { previous: prev as ReadonlyMap<string, number> | undefined });
  const counts = scope.localPods ? localSubjectCounts(identities, cluster, scope.localPods) : undefined;
  const subjects = counts ? new Set(counts.keys()) : undefined;
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
    ...(scope.localPods ? { scope: { localPods: scope.localPods } } : {}),
    assignment: new Map(identities.identities.map((i) => [i.key, i.id])),
  };
  if (counts) localCounts.set(m, counts);
  return m;
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
  const carved = mergeDiff(before?.identityElements ?? [], after.identityElements, compareIdentityElements, sameIdentity) ?? diffBy(before?.identityElements ?? [], after.identityElements, identityElementKey, (e) => String(e.identity));
  const isPod = (e: IdentityElement) => e.pod !== undefined;
  const identity = { add: carved.add.filter(isPod), delete: carved.delete.filter(isPod) };
  const world = mergeDiff(before?.world ?? [], after.world, compareIdentityElements, sameIdentity) ?? diffBy(before?.world ?? [], after.world, identityElementKey, (e) => String(e.identity));
  const pairs = mergeDiff(before?.layout.pairs ?? [], after.layout.pairs, comparePairs, sameProfile) ?? diffBy(before?.layout.pairs ?? [], after.layout.pairs, pairKey, (e) => String(e.profile));
  const ports = mergeDiff(before?.layout.ports ?? [], after.layout.ports, comparePorts, sameVerdict) ?? diffBy(before?.layout.ports ?? [], after.layout.ports, portKey, (e) => `${e.rule.action}/${e.rule.cookie}`);
  return { identity, world, pairs, ports, isolated: isolationDiff(before, after) };
}

const compareNumbers = (a: number, b: number) => a - b;
const sameIdentity = (a: IdentityElement, b: IdentityElement) => a.identity === b.identity;
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
  return { identity, world, pairs, ports, isolated: isolationDiff(before, after) };
}

export function diffSize(d: MembershipDiff): number {
  let n = d.identity.add.length + d.identity.delete.length + d.world.add.length + d.world.delete.length + d.pairs.add.length + d.pairs.delete.length + d.ports.add.length + d.ports.delete.length;
  for (const dir of DIRECTIONS) n += d.isolated[dir].add.length + d.isolated[dir].delete.length;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Incremental: a few pods changed labels or named ports (same addresses, same nodes and
// namespaces, same program). The result equals computeMembership(program, cluster, previous)
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

function localCountsOf(m: Membership, cluster: Cluster, localPods: ReadonlySet<string>): ReadonlyMap<number, number> {
  let c = localCounts.get(m);
  if (!c) localCounts.set(m, (c = localSubjectCounts(m.identities, cluster, localPods)));
  return c;
}

function findPod(cluster: Cluster, name: string): Cluster['pods'][number] | undefined {
  // cluster.pods is sorted by namespace/name: binary search, then a linear check as a fallback.
  const pods = cluster.pods;
  let lo = 0;
  let hi = pods.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const n = `${pods[mid].namespace}/${pods[mid].name}`;
    if (n === name) return pods[mid];
    if (n < name) lo = mid + 1;
    else hi = mid - 1;
  }
  return pods.find((p) => `${p.namespace}/${p.name}` === name);
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

interface PodChange {
  /** Index of the pod element. */
  readonly at: number;
  readonly key: string;
  readonly family: Family;
  readonly groups: string[];
  readonly observed: boolean;
  readonly pod: Cluster['pods'][number];
  readonly text: string;
}

/**
 * The membership after the pods named in `changedPods` (`namespace/name`) changed labels or
 * named ports, everything else as in `previous`. A pod that moves into an identity that
 * already exists changes only its ip -> identity elements (decisions are shared with
 * `previous`); a new identity (or one that disappears or gains/loses an address family) gets
 * its decision rows and columns recomputed and spliced in. Anything else (addresses, nodes,
 * namespaces, pods added or removed) falls back to computeMembership.
 */
export function updateMembership(previous: Membership, program: Program, cluster: Cluster, changedPods: readonly string[]): Membership {
  const classifier = new PodClassifier(program, cluster);
  const found = podChanges(previous, cluster, classifier, changedPods);
  if (!found) return computeMembership(program, cluster, previous, previous.scope);
  const table = previous.identities;
  const elements = previous.identityElements;
  const moved = found.filter((c) => table.byId.get(elements[c.at].identity)!.key !== c.key);
  if (moved.length === 0) return previous;
  const step = nextIdentities(previous, moved, classifier);
  const local = nextLocalCounts(previous, cluster, moved, step.idOf);
  const change = {
    from: tokenOf(previous),
    identityBefore: moved.map((c) => elements[c.at]).sort(compareIdentityElements),
    identityAfter: moved.map((c) => step.table.elements[c.at]).sort(compareIdentityElements),
  };
  const { added, removed, refamilied } = step;
  const summary: UpdateSummary = {
    added: added.size,
    removed: [...removed].map((k) => previous.assignment.get(k)!).sort((a, b) => a - b),
    refamilied: refamilied.size,
    subjectsChanged: local.gained.size + local.lost.size,
  };
  if (added.size === 0 && removed.size === 0 && refamilied.size === 0 && local.gained.size === 0 && local.lost.size === 0) {
    // Same identities (same keys and numbers) and subjects: the assignment and decisions are
    // shared (read through the shared decision table, which may flatten its rows on first read).
    const decisions = previous.decisions;
    const next: Membership = {
      identities: step.table,
      decisions,
      identityElements: step.table.elements,
      world: previous.world,
      get decisionElements() {
        return decisions.elements;
      },
      isolated: previous.isolated,
      layout: previous.layout,
      ...(previous.scope ? { scope: previous.scope } : {}),
      assignment: previous.assignment,
    };
    const rows = rowCache.get(previous);
    if (rows) rowCache.set(next, rows);
    if (local.counts) localCounts.set(next, local.counts);
    changes.set(next, { ...change, pairsGone: [], pairsNew: [], portsGone: [], portsNew: [], summary });
    return next;
  }
  const keyChanges = new Map<string, number | undefined>();
  for (const key of removed) keyChanges.set(key, undefined);
  for (const key of added) keyChanges.set(key, step.idOf(key));
  const identities = step.table.identities;
  // a new map object when identities changed (dataplane/policy/incremental.ts tells the cases apart by it)
  const assignment = added.size + removed.size + refamilied.size > 0 ? OverlayMap.derive(previous.assignment, keyChanges, () => new Map(identities.map((i) => [i.key, i.id]))) : previous.assignment;
  const d = spliceDecisions(previous, program, cluster, step, local);
  // Only pod elements changed: the world ranges are those of `previous`.
  const next = rowMembership(
    {
      identities: step.table,
      identityElements: step.table.elements,
      world: previous.world,
      isolated: d.isolated,
      layout: { ports: d.laid.ports, profiles: d.laid.profiles },
      ...(previous.scope ? { scope: previous.scope } : {}),
      assignment,
    },
    d.rows,
  );
  if (local.counts) localCounts.set(next, local.counts);
  changes.set(next, { ...change, pairsGone: d.pairsGone, pairsNew: d.laid.added, portsGone: d.laid.portsGone, portsNew: d.laid.portsNew, summary });
  return next;
}

/** The address elements of the named pods with their new identity keys; undefined when the one-pod path does not apply. */
function podChanges(previous: Membership, cluster: Cluster, classifier: PodClassifier, changedPods: readonly string[]): PodChange[] | undefined {
  const elements = previous.identityElements;
  const found: PodChange[] = [];
  for (const name of new Set(changedPods)) {
    const pod = findPod(cluster, name);
    if (!pod) return undefined;
    const groups = classifier.groupsOf(pod);
    const ports = classifier.portKey(pod);
    let own = 0;
    for (const text of pod.ips) {
      const ip = parseIp(text);
      if (!ip) continue;
      const at = elementIndex(elements, ip.family, ip.value);
      if (at < 0 || elements[at].pod !== name || elements[at].first !== elements[at].last) return undefined;
      own++;
      const key = PodClassifier.key(groups, ports, classifier.address.classOf(ip.family, ip.value));
      found.push({ at, key, family: ip.family, groups, observed: groups.length > 0 || ports !== '', pod, text });
    }
    if (own === 0) return undefined;
  }
  return found;
}

/** The identity table after the moves, and which identity keys appeared, vanished or changed families. */
interface IdentityStep {
  readonly table: IdentityTable;
  readonly added: ReadonlySet<string>;
  readonly removed: ReadonlySet<string>;
  readonly refamilied: ReadonlySet<string>;
  /** Number of a key after the change. */
  readonly idOf: (key: string) => number;
}

function familiesOf(c: { 4: number; 6: number }): Family[] {
  return ([4, 6] as const).filter((f) => c[f] > 0);
}

function nextIdentities(previous: Membership, moved: readonly PodChange[], classifier: PodClassifier): IdentityStep {
  const table = previous.identities;
  const elements = previous.identityElements;
  const keyOf = (id: number) => table.byId.get(id)!.key;
  // Per-family counts after the change.
  const perFamily = familyCounts(table);
  const counts = new Map<string, { 4: number; 6: number }>();
  const countOf = (key: string): { 4: number; 6: number } => {
    let c = counts.get(key);
    if (!c) {
      const id = previous.assignment.get(key);
      counts.set(key, (c = id === undefined ? { 4: 0, 6: 0 } : perFamily(id)));
    }
    return c;
  };
  for (const c of moved) {
    countOf(keyOf(elements[c.at].identity))[c.family]--;
    countOf(c.key)[c.family]++;
  }
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
  const nextElements = elements.slice();
  for (const c of moved) nextElements[c.at] = { ...elements[c.at], identity: idOf(c.key) };
  // Identities: the changed ones replaced, the vanished taken out, the new put in (sorted by id).
  const delta = new Map<number, number>();
  for (const c of moved) {
    delta.set(elements[c.at].identity, (delta.get(elements[c.at].identity) ?? 0) - 1);
    delta.set(idOf(c.key), (delta.get(idOf(c.key)) ?? 0) + 1);
  }
  const identities = table.identities.slice();
  for (const [id, d] of delta) {
    const at = positionOf(identities, id);
    if (at < 0) continue; // a new identity
    const i = identities[at];
    if (removed.has(i.key)) identities.splice(at, 1);
    else identities[at] = { ...i, families: refamilied.has(i.key) ? familiesOf(counts.get(i.key)!) : i.families, members: i.members + d };
  }
  const addedIdentities: Identity[] = [];
  for (const key of added) {
    const c = moved.find((m) => m.key === key)!;
    const ident: Identity = {
      id: newIds.get(key)!,
      key,
      kind: c.observed ? 'pod' : 'world',
      families: familiesOf(counts.get(key)!),
      representative: { kind: 'pod', pod: c.pod, namespaceLabels: classifier.namespaceLabels(c.pod.namespace), ip: c.text },
      groups: c.groups,
      members: delta.get(newIds.get(key)!) ?? 0,
    };
    addedIdentities.push(ident);
    identities.splice(idLowerBound(identities, ident.id), 0, ident);
  }
  const idChanges = new Map<number, Identity | undefined>();
  for (const id of removedIds) idChanges.set(id, undefined);
  for (const id of delta.keys()) {
    const at = positionOf(identities, id);
    if (at >= 0) idChanges.set(id, identities[at]);
  }
  const byId = OverlayMap.derive(table.byId, idChanges, () => new Map(identities.map((i) => [i.id, i])));
  const nextTable: IdentityTable = { identities, byId, elements: nextElements, warnings: table.warnings };
  derivePeerIndex(table.identities, identities, addedIdentities, [...removedIds].map((id) => table.byId.get(id)!));
  withIpv6Counts(table, nextTable, new Map([...counts].map(([key, c]) => [idOf(key), removed.has(key) ? 0 : c[6]])));
  return { table: nextTable, added, removed, refamilied, idOf };
}

/**
 * Subjects of a node-local table that appear (an own pod moved into an identity no own pod had)
 * or disappear (the last own pod left it): the local address counts, moved along. Only a change
 * of one of its own pods can change them (an identity only a remote pod had never was a subject).
 */
function nextLocalCounts(previous: Membership, cluster: Cluster, moved: readonly PodChange[], idOf: (key: string) => number): { counts?: ReadonlyMap<number, number>; gained: Set<number>; lost: Set<number> } {
  const gained = new Set<number>();
  const lost = new Set<number>();
  const local = previous.scope?.localPods;
  if (!local) return { gained, lost };
  const elements = previous.identityElements;
  const before = localCountsOf(previous, cluster, local);
  const own = moved.filter((c) => local.has(elements[c.at].pod!));
  if (own.length === 0) return { counts: before, gained, lost };
  const counted = new Map(before);
  for (const c of own) {
    const from = elements[c.at].identity;
    const n = counted.get(from)! - 1;
    if (n > 0) counted.set(from, n);
    else counted.delete(from);
    counted.set(idOf(c.key), (counted.get(idOf(c.key)) ?? 0) + 1);
  }
  for (const id of counted.keys()) if (!before.has(id)) gained.add(id);
  for (const id of before.keys()) if (!counted.has(id)) lost.add(id);
  return { counts: counted, gained, lost };
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
  local: { counts?: ReadonlyMap<number, number>; gained: ReadonlySet<number>; lost: ReadonlySet<number> },
): { rows: Rows; isolated: Record<Direction, number[]>; laid: LayoutChange; pairsGone: PairElement[] } {
  const affected = new Set<number>();
  for (const key of [...step.removed, ...step.refamilied]) affected.add(previous.assignment.get(key)!);
  const recompute = new Set<number>();
  for (const key of [...step.added, ...step.refamilied]) recompute.add(step.idOf(key));
  const counts = local.counts;
  const isSubject = (id: number) => (counts ? counts.has(id) : step.table.byId.has(id));
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
  for (const d of DIRECTIONS) {
    // both sorted, and disjoint (the fresh ones are rows just dropped or new)
    isolated[d] = mergeSorted(
      previous.isolated[d].filter((id) => !dropped.has(id)),
      fresh.isolated[d],
    );
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
  return { rows, isolated, laid, pairsGone };
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
