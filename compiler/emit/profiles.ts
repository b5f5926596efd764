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
// Profile numbers have the high bit set (identities are small hashes, but nothing relies on
// that: a missing pair stops the rule before the port lookup). Surviving profiles keep their
// numbers; new ones hash their content key and probe past used numbers in key order, so a fresh
// layout and an incremental one (updateLayout) agree.

import type { Direction, Rule } from '../ir/types.js';
import { fnv1a32 } from '../ir/hash.js';
import type { DecisionElement } from './decisions.js';

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

interface Profile {
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

export function comparePairs(a: PairElement, b: PairElement): number {
  return DIRECTION_ORDER[a.direction] - DIRECTION_ORDER[b.direction] || a.subject - b.subject || a.peer - b.peer;
}

export function comparePorts(a: PortElement, b: PortElement): number {
  return DIRECTION_ORDER[a.direction] - DIRECTION_ORDER[b.direction] || a.profile - b.profile || a.protoFrom - b.protoFrom || a.portFrom - b.portFrom;
}

function samePair(a: DecisionElement, b: DecisionElement): boolean {
  return a.direction === b.direction && a.subject === b.subject && a.peer === b.peer;
}

/** One pair's elements (consecutive in a sorted decision list) as a content key. */
function contentKey(run: readonly DecisionElement[]): string {
  let key = run[0].direction;
  for (const e of run) key += `|${e.protoFrom}-${e.protoTo}:${e.portFrom}-${e.portTo}${e.rule.action === 'allow' ? 'a' : 'd'}${e.rule.cookie}`;
  return key;
}

interface Run {
  readonly first: DecisionElement;
  readonly key: string;
  readonly elements: readonly DecisionElement[];
}

/** Consecutive runs of one (direction, subject, peer) in a decision list sorted by pair. */
function runsOf(elements: readonly DecisionElement[]): Run[] {
  const runs: Run[] = [];
  let i = 0;
  while (i < elements.length) {
    let j = i + 1;
    while (j < elements.length && samePair(elements[i], elements[j])) j++;
    const slice = elements.slice(i, j);
    runs.push({ first: elements[i], key: contentKey(slice), elements: slice });
    i = j;
  }
  return runs;
}

/** Numbers for the new keys: hash of the key with the high bit set, probing past `used`, in key order. */
function assignNew(keys: Iterable<string>, used: Set<number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const key of [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    let id = (fnv1a32(key) | HIGH) >>> 0;
    while (used.has(id)) id = ((id + 1) | HIGH) >>> 0;
    used.add(id);
    out.set(key, id);
  }
  return out;
}

function portsOf(run: Run, id: number): PortElement[] {
  return run.elements.map((e) => ({ direction: e.direction, profile: id, protoFrom: e.protoFrom, protoTo: e.protoTo, portFrom: e.portFrom, portTo: e.portTo, rule: e.rule }));
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
export function layoutDecisions(elements: readonly DecisionElement[], previous?: DecisionLayout): DecisionLayout {
  const runs = runsOf(elements);
  const uses = new Map<string, { count: number; run: Run }>();
  for (const r of runs) {
    const u = uses.get(r.key);
    if (u) u.count++;
    else uses.set(r.key, { count: 1, run: r });
  }
  const used = new Set<number>();
  const ids = new Map<string, number>();
  for (const key of uses.keys()) {
    const prev = previous?.profiles.get(key);
    if (prev) {
      ids.set(key, prev.id);
      used.add(prev.id);
    }
  }
  for (const [key, id] of assignNew([...uses.keys()].filter((k) => !ids.has(k)), used)) ids.set(key, id);
  const profiles = new Map<string, Profile>();
  for (const [key, u] of uses) {
    const id = ids.get(key)!;
    profiles.set(key, { id, uses: u.count, ports: portsOf(u.run, id) });
  }
  const pairs: PairElement[] = runs.map((r) => ({ direction: r.first.direction, subject: r.first.subject, peer: r.first.peer, profile: ids.get(r.key)! }));
  return { pairs, ports: sortedPorts(profiles), profiles };
}

/**
 * `previous` without the pairs `drop` selects, plus the pairs of `fresh` (decision elements of
 * pairs not in `previous` after the drop, sorted by pair). Equals layoutDecisions of the merged
 * decision list with `previous` as the numbering.
 */
export function updateLayout(previous: DecisionLayout, drop: (p: PairElement) => boolean, fresh: readonly DecisionElement[]): DecisionLayout {
  const keyOfId = new Map<number, string>();
  for (const [key, p] of previous.profiles) keyOfId.set(p.id, key);
  const count = new Map<string, number>();
  for (const [key, p] of previous.profiles) count.set(key, p.uses);
  const kept: PairElement[] = [];
  for (const p of previous.pairs) {
    if (drop(p)) {
      const key = keyOfId.get(p.profile)!;
      count.set(key, count.get(key)! - 1);
    } else kept.push(p);
  }
  const runs = runsOf(fresh);
  const freshRun = new Map<string, Run>();
  for (const r of runs) {
    count.set(r.key, (count.get(r.key) ?? 0) + 1);
    if (!freshRun.has(r.key)) freshRun.set(r.key, r);
  }
  const used = new Set<number>();
  for (const [key, p] of previous.profiles) if (count.get(key)! > 0) used.add(p.id);
  const newIds = assignNew([...freshRun.keys()].filter((k) => !previous.profiles.has(k)), used);
  const profiles = new Map<string, Profile>();
  let changedSet = false;
  for (const [key, n] of count) {
    const prev = previous.profiles.get(key);
    if (n <= 0) {
      if (prev) changedSet = true;
      continue;
    }
    if (prev) profiles.set(key, prev.uses === n ? prev : { ...prev, uses: n });
    else {
      const id = newIds.get(key)!;
      profiles.set(key, { id, uses: n, ports: portsOf(freshRun.get(key)!, id) });
      changedSet = true;
    }
  }
  const added: PairElement[] = runs.map((r) => ({ direction: r.first.direction, subject: r.first.subject, peer: r.first.peer, profile: previous.profiles.get(r.key)?.id ?? newIds.get(r.key)! }));
  const pairs = mergeSorted(kept, added);
  return { pairs, ports: changedSet ? sortedPorts(profiles) : previous.ports, profiles };
}

function mergeSorted(a: readonly PairElement[], b: readonly PairElement[]): PairElement[] {
  if (b.length === 0) return a as PairElement[];
  const out: PairElement[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && comparePairs(a[i], b[j]) < 0)) out.push(a[i++]);
    else out.push(b[j++]);
  }
  return out;
}
