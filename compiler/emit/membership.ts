// Membership: the data half of the dataplane (ip -> identity, decisions, isolated subjects),
// which changes with the cluster while the rule skeleton does not. The node daemon calls
// computeMembership with the pods it sees and membershipDiff to get the element adds/deletes
// for one atomic batch. A one-pod label change that moves the pod into an identity that
// already exists (and leaves its old identity with members) changes exactly one ip -> identity
// element per address of the pod. updateMembership(previous, program, cluster, changedPods) is
// that path without the full recomputation: existing identity -> only the pod's ip -> identity
// elements change (decisions shared with `previous`); new/vanished identity -> only its decision
// row and column are computed and merged. Its result equals computeMembership's (tested in
// incremental.test.ts). membershipDiff merges the two sorted element arrays (no key strings).

import type { Cluster } from '../model/cluster.js';
import type { Direction, Program } from '../ir/types.js';
import { computeIdentities, elementAt, PodClassifier, type Identity, type IdentityElement, type IdentityTable } from './identities.js';
import { computeDecisions, decisionsFor, DIRECTIONS, type DecisionElement, type DecisionTable } from './decisions.js';
import { parseIp, type Family } from '../ir/cidr.js';
import { fnv1a32 } from '../ir/hash.js';
import { comparePairs, comparePorts, layoutDecisions, updateLayout, type DecisionLayout, type PairElement, type PortElement } from './profiles.js';

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

export function computeMembership(program: Program, cluster: Cluster, previous?: Membership | ReadonlyMap<string, number>, scope: MembershipScope = {}): Membership {
  const prev = previous === undefined ? undefined : previous instanceof Map ? previous : (previous as Membership).assignment;
  const identities = computeIdentities(program, cluster, { previous: prev as ReadonlyMap<string, number> | undefined });
  const subjects = scope.localPods ? localSubjects(identities, cluster, scope.localPods) : undefined;
  const decisions = computeDecisions(program, cluster, identities, { subjects, maxPairsPerDirection: scope.maxPairsPerDirection });
  const previousLayout = previous === undefined || previous instanceof Map ? undefined : (previous as Membership).layout;
  return {
    identities,
    decisions,
    identityElements: identities.elements,
    world: mergeWorld(identities.elements),
    decisionElements: decisions.elements,
    isolated: decisions.isolated,
    layout: layoutDecisions(decisions.elements, previousLayout),
    ...(scope.localPods ? { scope: { localPods: scope.localPods } } : {}),
    assignment: new Map(identities.identities.map((i) => [i.key, i.id])),
  };
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
  const carved = mergeDiff(before?.identityElements ?? [], after.identityElements, compareIdentityElements, (a, b) => a.identity === b.identity) ?? diffBy(before?.identityElements ?? [], after.identityElements, identityElementKey, (e) => String(e.identity));
  const isPod = (e: IdentityElement) => e.pod !== undefined;
  const identity = { add: carved.add.filter(isPod), delete: carved.delete.filter(isPod) };
  const world = mergeDiff(before?.world ?? [], after.world, compareIdentityElements, (a, b) => a.identity === b.identity) ?? diffBy(before?.world ?? [], after.world, identityElementKey, (e) => String(e.identity));
  const pairs = mergeDiff(before?.layout.pairs ?? [], after.layout.pairs, comparePairs, (a, b) => a.profile === b.profile) ?? diffBy(before?.layout.pairs ?? [], after.layout.pairs, pairKey, (e) => String(e.profile));
  const ports = mergeDiff(before?.layout.ports ?? [], after.layout.ports, comparePorts, (a, b) => a.rule.action === b.rule.action && a.rule.cookie === b.rule.cookie) ?? diffBy(before?.layout.ports ?? [], after.layout.ports, portKey, (e) => `${e.rule.action}/${e.rule.cookie}`);
  const isolated = {} as Record<Direction, ElementChanges<number>>;
  for (const d of DIRECTIONS) isolated[d] = diffBy(before?.isolated[d] ?? [], after.isolated[d], String, String);
  return { identity, world, pairs, ports, isolated };
}

export function diffSize(d: MembershipDiff): number {
  let n = d.identity.add.length + d.identity.delete.length + d.world.add.length + d.world.delete.length + d.pairs.add.length + d.pairs.delete.length + d.ports.add.length + d.ports.delete.length;
  for (const dir of DIRECTIONS) n += d.isolated[dir].add.length + d.isolated[dir].delete.length;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Incremental: a few pods changed labels or named ports (same addresses, same nodes and
// namespaces, same program). The result equals computeMembership(program, cluster, previous)
// element for element (identity representatives may differ: any member serves).

interface PodIndex {
  /** "family/value" -> index of the pod element in the elements array. */
  readonly at: Map<string, number>;
  /** identity id -> element count per family. */
  readonly perFamily: Map<number, { 4: number; 6: number }>;
}

const podIndexes = new WeakMap<readonly IdentityElement[], PodIndex>();

function podIndex(elements: readonly IdentityElement[]): PodIndex {
  let ix = podIndexes.get(elements);
  if (ix) return ix;
  const at = new Map<string, number>();
  const perFamily = new Map<number, { 4: number; 6: number }>();
  elements.forEach((e, i) => {
    if (e.pod !== undefined && e.first === e.last) at.set(`${e.family}/${e.first}`, i);
    let c = perFamily.get(e.identity);
    if (!c) perFamily.set(e.identity, (c = { 4: 0, 6: 0 }));
    c[e.family]++;
  });
  ix = { at, perFamily };
  podIndexes.set(elements, ix);
  return ix;
}

/**
 * The identities of the addresses the local pods own (the subjects of a node-local table),
 * without a pass over every element: the few local pods are found by name and their addresses
 * by binary search in the sorted elements; an address another pod owns is not theirs.
 */
function localSubjects(table: IdentityTable, cluster: Cluster, localPods: ReadonlySet<string>): Set<number> {
  const out = new Set<number>();
  for (const name of localPods) {
    const pod = findPod(cluster, name);
    if (!pod) continue;
    for (const text of pod.ips) {
      const e = elementAt(table, text);
      if (e?.pod === name) out.add(e.identity);
    }
  }
  return out;
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

/**
 * The membership after the pods named in `changedPods` (`namespace/name`) changed labels or
 * named ports, everything else as in `previous`. A pod that moves into an identity that
 * already exists changes only its ip -> identity elements (decisions are shared with
 * `previous`); a new identity (or one that disappears or gains/loses an address family) gets
 * its decision rows and columns recomputed and merged. Anything else (addresses, nodes,
 * namespaces, pods added or removed) falls back to computeMembership.
 */
export function updateMembership(previous: Membership, program: Program, cluster: Cluster, changedPods: readonly string[]): Membership {
  const full = () => computeMembership(program, cluster, previous, previous.scope);
  // A node-local table: its subjects are its own pods' identities; only a change of one of its
  // own pods can change them (an identity only a remote pod had never was a subject).
  const local = previous.scope?.localPods;
  const ownChanged = !!local && changedPods.some((n) => local.has(n));
  const table = previous.identities;
  const elements = previous.identityElements;
  const ix = podIndex(elements);
  const classifier = new PodClassifier(program, cluster);
  const changes: Array<{ at: number; key: string; family: Family; groups: string[]; observed: boolean; pod: Cluster['pods'][number]; text: string }> = [];
  for (const name of new Set(changedPods)) {
    const pod = findPod(cluster, name);
    if (!pod) return full();
    const groups = classifier.groupsOf(pod);
    const ports = classifier.portKey(pod);
    let own = 0;
    for (const text of pod.ips) {
      const ip = parseIp(text);
      if (!ip) continue;
      const at = ix.at.get(`${ip.family}/${ip.value}`);
      if (at === undefined || elements[at].pod !== name) return full();
      own++;
      const key = PodClassifier.key(groups, ports, classifier.address.classOf(ip.family, ip.value));
      changes.push({ at, key, family: ip.family, groups, observed: groups.length > 0 || ports !== '', pod, text });
    }
    if (own === 0) return full();
  }
  // Per-family counts after the change.
  const counts = new Map<string, { 4: number; 6: number }>();
  const countOf = (key: string): { 4: number; 6: number } => {
    let c = counts.get(key);
    if (!c) {
      const id = previous.assignment.get(key);
      const old = id === undefined ? undefined : ix.perFamily.get(id);
      counts.set(key, (c = old ? { ...old } : { 4: 0, 6: 0 }));
    }
    return c;
  };
  const keyOfId = new Map(table.identities.map((i) => [i.id, i.key]));
  const moved = changes.filter((c) => keyOfId.get(elements[c.at].identity) !== c.key);
  if (moved.length === 0) return previous;
  for (const c of moved) {
    countOf(keyOfId.get(elements[c.at].identity)!)[c.family]--;
    countOf(c.key)[c.family]++;
  }
  // Identities whose existence or families change.
  const familiesOf = (c: { 4: number; 6: number }): Family[] => ([4, 6] as const).filter((f) => c[f] > 0);
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
  const used = new Set<number>([0]);
  for (const i of table.identities) if (!removed.has(i.key)) used.add(i.id);
  const newIds = new Map<string, number>();
  for (const key of [...added].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    let id = fnv1a32(key) || 1;
    while (used.has(id)) id = (id + 1) >>> 0 || 1;
    used.add(id);
    newIds.set(key, id);
  }
  const idOf = (key: string): number => previous.assignment.get(key) ?? newIds.get(key)!;
  const nextElements = elements.slice();
  for (const c of moved) nextElements[c.at] = { ...elements[c.at], identity: idOf(c.key) };
  // Identities.
  const delta = new Map<number, number>();
  for (const c of moved) {
    delta.set(elements[c.at].identity, (delta.get(elements[c.at].identity) ?? 0) - 1);
    delta.set(idOf(c.key), (delta.get(idOf(c.key)) ?? 0) + 1);
  }
  const identities: Identity[] = [];
  for (const i of table.identities) {
    if (removed.has(i.key)) continue;
    const d = delta.get(i.id);
    if (d === undefined) {
      identities.push(i);
      continue;
    }
    const fams = refamilied.has(i.key) ? familiesOf(counts.get(i.key)!) : i.families;
    identities.push({ ...i, families: fams, members: i.members + d });
  }
  for (const key of added) {
    const c = moved.find((m) => m.key === key)!;
    identities.push({
      id: newIds.get(key)!,
      key,
      kind: c.observed ? 'pod' : 'world',
      families: familiesOf(counts.get(key)!),
      representative: { kind: 'pod', pod: c.pod, namespaceLabels: classifier.namespaceLabels(c.pod.namespace), ip: c.text },
      groups: c.groups,
      members: delta.get(newIds.get(key)!) ?? 0,
    });
  }
  identities.sort((a, b) => a.id - b.id);
  const nextTable: IdentityTable = { identities, byId: new Map(identities.map((i) => [i.id, i])), elements: nextElements, warnings: table.warnings };
  // The pod elements keep their positions: carry the index forward.
  const perFamily = new Map(ix.perFamily);
  for (const [key, c] of counts) {
    const id = idOf(key);
    if (removed.has(key)) perFamily.delete(id);
    else perFamily.set(id, c);
  }
  podIndexes.set(nextElements, { at: ix.at, perFamily });
  // Subjects of a node-local table that appear (an own pod moved into an identity no own pod had)
  // or disappear (the last own pod left it).
  const gained = new Set<number>();
  const lost = new Set<number>();
  // only needed past the shared return below, or to find gained/lost subjects
  let subjects = ownChanged ? localSubjects(nextTable, cluster, local!) : undefined;
  if (subjects) {
    const before = localSubjects(table, cluster, local!);
    for (const id of subjects) if (!before.has(id)) gained.add(id);
    for (const id of before) if (!subjects.has(id)) lost.add(id);
  }
  if (added.size === 0 && removed.size === 0 && refamilied.size === 0 && gained.size === 0 && lost.size === 0) {
    // Same identities (same keys and numbers) and subjects: the assignment and decisions are shared.
    return { ...previous, identities: nextTable, identityElements: nextElements };
  }
  const assignment = added.size + removed.size + refamilied.size > 0 ? new Map(identities.map((i) => [i.key, i.id])) : previous.assignment;
  // Decisions: rows and columns of the identities that appeared, vanished or changed families;
  // whole rows of the subjects a node-local table gained; none for the subjects it lost.
  const affected = new Set<number>();
  for (const key of [...removed, ...refamilied]) affected.add(previous.assignment.get(key)!);
  const recompute = new Set<number>();
  for (const key of [...added, ...refamilied]) recompute.add(idOf(key));
  for (const id of recompute) affected.add(id);
  if (local && !subjects) subjects = localSubjects(nextTable, cluster, local);
  const fresh = decisionsFor(program, cluster, nextTable, recompute, { subjects }, gained);
  const stale = (e: { subject: number; peer: number }) => affected.has(e.subject) || affected.has(e.peer) || lost.has(e.subject) || gained.has(e.subject);
  const decisionElements = mergeDecisions(previous.decisionElements, fresh.elements, stale);
  const layout = updateLayout(previous.layout, stale, fresh.elements);
  const isolated = {} as Record<Direction, number[]>;
  for (const d of DIRECTIONS) {
    const kept = previous.isolated[d].filter((id) => !affected.has(id) && !lost.has(id) && !gained.has(id));
    isolated[d] = [...kept, ...fresh.isolated[d]].sort((a, b) => a - b);
  }
  const decisions: DecisionTable = { elements: decisionElements, isolated };
  // Only pod elements changed: the world ranges are those of `previous`.
  return { identities: nextTable, decisions, identityElements: nextElements, world: previous.world, decisionElements, isolated, layout, ...(previous.scope ? { scope: previous.scope } : {}), assignment };
}

/**
 * Merge two element lists sorted by (direction, subject, peer) with disjoint pairs, keeping
 * in-pair order, leaving out the elements of `a` that `drop` selects (one pass).
 */
function mergeDecisions(a: readonly DecisionElement[], b: readonly DecisionElement[], drop: (e: DecisionElement) => boolean): DecisionElement[] {
  const out: DecisionElement[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length) {
    const e = a[i];
    if (drop(e)) {
      i++;
      continue;
    }
    while (j < b.length && comparePairs(b[j], e) < 0) out.push(b[j++]);
    out.push(e);
    i++;
  }
  while (j < b.length) out.push(b[j++]);
  return out;
}
