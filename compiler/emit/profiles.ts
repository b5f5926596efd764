// Decision layout for the kernel: the decision elements (subject, peer, proto range, port range
// -> rule) split into two maps, so that a new flow costs one hash lookup plus one lookup in a
// small interval map, whatever the number of identity pairs:
//
//   pairs  (direction, subject identity, peer identity) -> profile          exact keys: a hash
//   ports  (direction, profile, l4proto range, dport range) -> rule verdict  few elements
//
// A profile is the whole port function of one pair (every element of the pair, with its rule);
// pairs with the same function share it. Real clusters have many pairs and few functions, so the
// interval map (whose lookup cost in the kernel grows with its size: nft_set_pipapo scans
// bitmaps as long as the element count) stays small, and the big map is a plain hash.
//
// A profile also says whether its subject is isolated for the direction (by a NetworkPolicy):
// isolated and open subjects never share a profile, and an isolated subject's profile numbers
// carry PROFILE_ISOLATED. The port chain then settles a port no element holds with a bit test
// on the register that holds the profile (drop for an isolated subject, on to the next side for
// an open one), so a new flow whose pair has a profile needs no lookup in the isolated sets and
// no chain of its own per isolation (compiler/emit/nftables/ruleset.ts).
//
// Profile numbers have the high bit set (identities are small hashes, but nothing relies on
// that: a missing pair stops the rule before the port lookup). Surviving profiles keep their
// numbers; new ones hash their content key and probe past used numbers in key order, so a fresh
// layout and an incremental one agree (layoutChange: the pairs that leave and come in, costing
// the change, the profile maps derived rather than copied; updateLayout: the same over a whole
// pair list).

import type { Direction, Rule } from '../ir/types.js';
import { fnv1a32 } from '../ir/hash.js';
import type { DecisionElement } from './decisions.js';
import { OverlayMap } from './overlay-map.js';
import { partitionPoint } from './sorted.js';

export interface PairElement {
  readonly direction: Direction;
  readonly subject: number;
  readonly peer: number;
  readonly profile: number;
}

export interface PortElement {
  readonly direction: Direction;
  readonly profile: number;
  readonly protoFrom: number;
  readonly protoTo: number;
  readonly portFrom: number;
  readonly portTo: number;
  readonly rule: Rule;
}

export interface Profile {
  readonly id: number;
  readonly uses: number;
  readonly ports: readonly PortElement[];
}

export interface DecisionLayout {
  /** Sorted by direction (egress first), subject, peer. */
  readonly pairs: readonly PairElement[];
  /** Sorted by direction, profile, proto, port. */
  readonly ports: readonly PortElement[];
  /** Profile content key -> profile (number, pairs using it, its port elements). */
  readonly profiles: ReadonlyMap<string, Profile>;
}

const DIRECTION_ORDER: Record<Direction, number> = { egress: 0, ingress: 1 };
const HIGH = 0x80000000;
/** Set in the number of a profile whose subject is isolated for its direction. */
export const PROFILE_ISOLATED = 0x40000000;
const NUMBER_BITS = 0x3fffffff;

/** Whether `subject` is isolated for `direction` (Membership.isolated). */
export type IsolationTest = (direction: Direction, subject: number) => boolean;

/** An IsolationTest over ascending lists of isolated subjects per direction (binary search: nothing built, so a one-pod update does not pay for the whole list). */
export function isolationOf(isolated: Readonly<Record<Direction, readonly number[]>>): IsolationTest {
  return (direction, subject) => {
    const list = isolated[direction];
    const i = partitionPoint(0, list.length, (k) => list[k] < subject);
    return i < list.length && list[i] === subject;
  };
}

export function profileIsolated(profile: number): boolean {
  return (profile & PROFILE_ISOLATED) !== 0;
}

/** Order by (direction, subject, peer): pair elements, and decision elements by their pair. */
export function comparePairs(a: Pick<PairElement, 'direction' | 'subject' | 'peer'>, b: Pick<PairElement, 'direction' | 'subject' | 'peer'>): number {
  return DIRECTION_ORDER[a.direction] - DIRECTION_ORDER[b.direction] || a.subject - b.subject || a.peer - b.peer;
}

export function comparePorts(a: PortElement, b: PortElement): number {
  return DIRECTION_ORDER[a.direction] - DIRECTION_ORDER[b.direction] || a.profile - b.profile || a.protoFrom - b.protoFrom || a.portFrom - b.portFrom;
}

function samePair(a: DecisionElement, b: DecisionElement): boolean {
  return a.direction === b.direction && a.subject === b.subject && a.peer === b.peer;
}

/** One pair's elements (consecutive in a sorted decision list) and its subject's isolation as a content key. */
function contentKey(run: readonly DecisionElement[], isolated: boolean): string {
  let key: string = isolated ? `${run[0].direction}!` : run[0].direction;
  for (const e of run) key += `|${e.protoFrom}-${e.protoTo}:${e.portFrom}-${e.portTo}${e.rule.action === 'allow' ? 'a' : 'd'}${e.rule.cookie}`;
  return key;
}

/** The runs of one (direction, subject, peer) of a decision list, as parallel arrays (one entry per pair: no object each). */
interface Runs {
  /** Each run's first element (its pair). */
  readonly firsts: readonly DecisionElement[];
  /** Each run's content key. */
  readonly keys: readonly string[];
  /** Content key -> the elements of its first run, in order of first appearance. */
  readonly content: ReadonlyMap<string, readonly DecisionElement[]>;
}

/** A number over what contentKey reads, to find runs of equal content without building their key. */
function contentHash(elements: readonly DecisionElement[], from: number, to: number, isolated: boolean): number {
  let h = (elements[from].direction === 'egress' ? 1 : 2) + (isolated ? 4 : 0);
  for (let i = from; i < to; i++) {
    const e = elements[i];
    h = Math.imul(h ^ e.protoFrom, 16777619);
    h = Math.imul(h ^ e.protoTo, 16777619);
    h = Math.imul(h ^ e.portFrom, 16777619);
    h = Math.imul(h ^ e.portTo, 16777619);
    h = Math.imul(h ^ e.rule.cookie ^ (e.rule.action === 'allow' ? 0x40000000 : 0), 16777619);
  }
  return h;
}

/** Whether elements[from, to) has the content `run` has (contentKey would be equal; the caller compares isolation). */
function sameContent(run: readonly DecisionElement[], elements: readonly DecisionElement[], from: number, to: number): boolean {
  if (run.length !== to - from || run[0].direction !== elements[from].direction) return false;
  for (let k = 0; k < run.length; k++) {
    const a = run[k];
    const b = elements[from + k];
    if (a.protoFrom !== b.protoFrom || a.protoTo !== b.protoTo || a.portFrom !== b.portFrom || a.portTo !== b.portTo) return false;
    if (a.rule.cookie !== b.rule.cookie || (a.rule.action === 'allow') !== (b.rule.action === 'allow')) return false;
  }
  return true;
}

/**
 * Consecutive runs of one (direction, subject, peer) in a decision list sorted by pair. Many
 * pairs share few contents: a content key string is built once per distinct content (found by
 * hash, then compared), not once per pair.
 */
function runsOf(elements: readonly DecisionElement[], isolation: IsolationTest): Runs {
  const firsts: DecisionElement[] = [];
  const keys: string[] = [];
  const content = new Map<string, readonly DecisionElement[]>();
  const seen = new Map<number, string[]>(); // content hash -> content keys with it (one isolation per hash)
  let i = 0;
  while (i < elements.length) {
    let j = i + 1;
    while (j < elements.length && samePair(elements[i], elements[j])) j++;
    const isolated = isolation(elements[i].direction, elements[i].subject);
    const h = contentHash(elements, i, j, isolated);
    let same = seen.get(h);
    let key: string | undefined;
    for (let k = 0; same && k < same.length && key === undefined; k++) if (keyIsolated(same[k]) === isolated && sameContent(content.get(same[k])!, elements, i, j)) key = same[k];
    if (key === undefined) {
      const slice = elements.slice(i, j);
      key = contentKey(slice, isolated);
      content.set(key, slice);
      if (!same) seen.set(h, (same = []));
      same.push(key);
    }
    firsts.push(elements[i]);
    keys.push(key);
    i = j;
  }
  return { firsts, keys, content };
}

/** Whether a content key is an isolated subject's (contentKey: `egress!|...`; a run has at least one element). */
function keyIsolated(key: string): boolean {
  return key.charCodeAt(key.indexOf('|') - 1) === 33; // '!'
}

/** Numbers for the new keys: hash of the key with the high bit (and PROFILE_ISOLATED for an isolated subject's) set, probing past used ones (`used`, and those given out here), in key order. */
function assignNew(keys: Iterable<string>, used: (id: number) => boolean): Map<string, number> {
  const out = new Map<string, number>();
  const taken = new Set<number>();
  for (const key of [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    const fixed = HIGH | (keyIsolated(key) ? PROFILE_ISOLATED : 0);
    let id = ((fnv1a32(key) & NUMBER_BITS) | fixed) >>> 0;
    while (used(id) || taken.has(id)) id = (((id + 1) & NUMBER_BITS) | fixed) >>> 0;
    taken.add(id);
    out.set(key, id);
  }
  return out;
}

function portsOf(elements: readonly DecisionElement[], id: number): PortElement[] {
  return elements.map((e) => ({ direction: e.direction, profile: id, protoFrom: e.protoFrom, protoTo: e.protoTo, portFrom: e.portFrom, portTo: e.portTo, rule: e.rule }));
}

function sortedPorts(profiles: ReadonlyMap<string, Profile>): PortElement[] {
  const list = [...profiles.values()].sort((a, b) => DIRECTION_ORDER[a.ports[0].direction] - DIRECTION_ORDER[b.ports[0].direction] || a.id - b.id);
  const out: PortElement[] = [];
  for (const p of list) out.push(...p.ports);
  return out;
}

/**
 * The layout of a decision list (sorted by direction, subject, peer, proto, port, as
 * computeDecisions returns it). `previous`: surviving profiles keep their numbers.
 */
export function layoutDecisions(elements: readonly DecisionElement[], isolation: IsolationTest, previous?: DecisionLayout): DecisionLayout {
  const runs = runsOf(elements, isolation);
  const uses = new Map<string, number>();
  for (const key of runs.content.keys()) uses.set(key, 0);
  for (let k = 0; k < runs.keys.length; k++) uses.set(runs.keys[k], uses.get(runs.keys[k])! + 1);
  const used = new Set<number>();
  const ids = new Map<string, number>();
  for (const key of uses.keys()) {
    const prev = previous?.profiles.get(key);
    if (prev) {
      ids.set(key, prev.id);
      used.add(prev.id);
    }
  }
  for (const [key, id] of assignNew([...uses.keys()].filter((k) => !ids.has(k)), (id) => used.has(id))) ids.set(key, id);
  const profiles = new Map<string, Profile>();
  for (const [key, count] of uses) {
    const id = ids.get(key)!;
    profiles.set(key, { id, uses: count, ports: portsOf(runs.content.get(key)!, id) });
  }
  return { pairs: pairsOf(runs, (key) => ids.get(key)!), ports: sortedPorts(profiles), profiles };
}

function pairsOf(runs: Runs, profile: (key: string) => number): PairElement[] {
  const out: PairElement[] = new Array(runs.firsts.length);
  for (let k = 0; k < out.length; k++) {
    const e = runs.firsts[k];
    out[k] = { direction: e.direction, subject: e.subject, peer: e.peer, profile: profile(runs.keys[k]) };
  }
  return out;
}

/** What layoutChange did to a layout. */
export interface LayoutChange {
  /** The layout's profiles and ports after the change (its pairs are the caller's to place). */
  readonly profiles: ReadonlyMap<string, Profile>;
  readonly ports: readonly PortElement[];
  /** One pair element per pair of `fresh`, in `fresh` order. */
  readonly added: readonly PairElement[];
  /** Port elements of the profiles no pair uses any more, and of the new profiles (sorted). */
  readonly portsGone: readonly PortElement[];
  readonly portsNew: readonly PortElement[];
}

/** Profile number -> content key, per profiles map (derived along with the maps layoutChange derives). */
const keysById = new WeakMap<ReadonlyMap<string, Profile>, ReadonlyMap<number, string>>();

function profileKeysById(profiles: ReadonlyMap<string, Profile>): ReadonlyMap<number, string> {
  let m = keysById.get(profiles);
  if (!m) {
    const built = new Map<number, string>();
    for (const [key, p] of profiles) built.set(p.id, key);
    keysById.set(profiles, (m = built));
  }
  return m;
}

/**
 * The profiles and ports after the pairs `removed` (elements of `previous.pairs`) leave and the
 * pairs of `fresh` (decision elements sorted by pair, none of them a pair that stays) come in:
 * the numbering layoutDecisions would give the merged list with `previous` as the numbering.
 * Costs the change (the profile map and its number index are derived, overlay-map.ts), plus
 * the port list when profiles appear or vanish; never the number of pairs. (Rebuilding the
 * profile maps per change cost ~1 ms of a 3 ms one-pod update at 5k pods / 1k policies.)
 */
export function layoutChange(previous: DecisionLayout, removed: readonly PairElement[], fresh: readonly DecisionElement[], isolation: IsolationTest): LayoutChange {
  const keyOfId = profileKeysById(previous.profiles);
  const delta = new Map<string, number>();
  for (const p of removed) {
    const key = keyOfId.get(p.profile)!;
    delta.set(key, (delta.get(key) ?? 0) - 1);
  }
  const runs = runsOf(fresh, isolation);
  const freshRun = runs.content;
  for (const key of runs.keys) delta.set(key, (delta.get(key) ?? 0) + 1);
  const usesAfter = (key: string) => (previous.profiles.get(key)?.uses ?? 0) + (delta.get(key) ?? 0);
  // a number is used while the profile holding it keeps a pair
  const used = (id: number) => {
    const key = keyOfId.get(id);
    return key !== undefined && usesAfter(key) > 0;
  };
  const newIds = assignNew([...freshRun.keys()].filter((k) => !previous.profiles.has(k)), used);
  const changes = new Map<string, Profile | undefined>();
  const idChanges = new Map<number, string | undefined>();
  const gone: PortElement[] = [];
  const fresher: PortElement[] = [];
  for (const [key, d] of delta) {
    const prev = previous.profiles.get(key);
    const n = (prev?.uses ?? 0) + d;
    if (n <= 0) {
      if (prev) {
        gone.push(...prev.ports);
        changes.set(key, undefined);
        if (!idChanges.has(prev.id)) idChanges.set(prev.id, undefined);
      }
      continue;
    }
    if (prev) {
      if (d !== 0) changes.set(key, { ...prev, uses: n });
    } else {
      const id = newIds.get(key)!;
      const ports = portsOf(freshRun.get(key)!, id);
      changes.set(key, { id, uses: n, ports });
      idChanges.set(id, key);
      fresher.push(...ports);
    }
  }
  const profiles = OverlayMap.derive(previous.profiles, changes);
  keysById.set(profiles, OverlayMap.derive(keyOfId, idChanges));
  const added = pairsOf(runs, (key) => previous.profiles.get(key)?.id ?? newIds.get(key)!);
  gone.sort(comparePorts);
  fresher.sort(comparePorts);
  let ports = previous.ports;
  if (gone.length > 0 || fresher.length > 0) {
    // what sortedPorts(profiles) gives: the surviving elements keep their order, the new ones go in
    const left = new Set(gone);
    ports = mergeBy(
      previous.ports.filter((p) => !left.has(p)),
      fresher,
      comparePorts,
    );
  }
  return { profiles, ports, added, portsGone: gone, portsNew: fresher };
}

/**
 * `previous` without the pairs `drop` selects, plus the pairs of `fresh` (decision elements of
 * pairs not in `previous` after the drop, sorted by pair). Equals layoutDecisions of the merged
 * decision list with `previous` as the numbering.
 */
export function updateLayout(previous: DecisionLayout, drop: (p: PairElement) => boolean, fresh: readonly DecisionElement[], isolation: IsolationTest): DecisionLayout {
  const kept: PairElement[] = [];
  const removed: PairElement[] = [];
  for (const p of previous.pairs) (drop(p) ? removed : kept).push(p);
  const change = layoutChange(previous, removed, fresh, isolation);
  return { pairs: mergeBy(kept, change.added, comparePairs), ports: change.ports, profiles: change.profiles };
}

/** Two lists sorted by `compare` merged into one (on a tie, `b`'s element first); `a` itself when `b` is empty. */
function mergeBy<T>(a: readonly T[], b: readonly T[], compare: (x: T, y: T) => number): readonly T[] {
  if (b.length === 0) return a;
  const out: T[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && compare(a[i], b[j]) < 0)) out.push(a[i++]);
    else out.push(b[j++]);
  }
  return out;
}
