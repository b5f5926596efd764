// The decision table by rows: one row per (direction, subject identity) holding that subject's
// decision elements and pair elements (sorted by peer). updateMembership edits rows, never the
// whole table: a new identity's column touches one row per subject that has a cell for it, a
// new subject adds its row, and unchanged rows are shared between the two memberships. A row is
// a few runs of bigger sorted arrays (at first one run of the flat lists computeMembership
// produced, so splitting those costs a binary search per row, not a copy; an edit adds runs
// instead of copying the row). The flat lists the Membership interface exposes are put back
// together only when someone reads them (flatten).

import type { Direction } from '../ir/types.js';
import type { DecisionElement } from './decisions.js';
import type { PairElement } from './profiles.js';
import { partitionPoint } from './sorted.js';

/** items[from, to). */
export interface Run<T> {
  readonly items: readonly T[];
  readonly from: number;
  readonly to: number;
}

/**
 * A row as a few runs in peer order (pieces of bigger arrays: an edit splits a run and puts a
 * small new one in between instead of copying the row; past MAX_RUNS pieces the row is copied
 * into one array).
 */
export interface TableRow {
  readonly decisions: ReadonlyArray<Run<DecisionElement>>;
  readonly pairs: ReadonlyArray<Run<PairElement>>;
}

const MAX_RUNS = 16;

/** Rows by rowKey; numeric key order is table order (direction, then subject). */
export type Rows = ReadonlyMap<number, TableRow>;

const INGRESS = 2 ** 32;

export function rowKey(direction: Direction, subject: number): number {
  return (direction === 'egress' ? 0 : INGRESS) + subject;
}

export function rowSubject(key: number): number {
  return key >= INGRESS ? key - INGRESS : key;
}

function whole<T>(items: readonly T[]): Run<T> {
  return { items, from: 0, to: items.length };
}

/** First index at or after `from` whose row key is above `key` (items sorted by row key). */
function endOfRow(items: ReadonlyArray<{ readonly direction: Direction; readonly subject: number }>, from: number, key: number): number {
  return partitionPoint(from, items.length, (i) => rowKey(items[i].direction, items[i].subject) <= key);
}

/** The rows of a decision list and its pair list (both sorted by pair: every row has both). */
export function splitRows(decisions: readonly DecisionElement[], pairs: readonly PairElement[]): Map<number, TableRow> {
  const out = new Map<number, TableRow>();
  let i = 0;
  let j = 0;
  while (i < decisions.length) {
    const key = rowKey(decisions[i].direction, decisions[i].subject);
    if (j >= pairs.length || rowKey(pairs[j].direction, pairs[j].subject) !== key) throw new Error('decision rows: pair list does not match the decision list');
    const iEnd = endOfRow(decisions, i, key);
    const jEnd = endOfRow(pairs, j, key);
    out.set(key, { decisions: [{ items: decisions, from: i, to: iEnd }], pairs: [{ items: pairs, from: j, to: jEnd }] });
    i = iEnd;
    j = jEnd;
  }
  if (j !== pairs.length) throw new Error('decision rows: pair list does not match the decision list');
  return out;
}

/** First index in the run whose peer is at least `peer`. */
function lowerBound<T extends { readonly peer: number }>(run: Run<T>, peer: number): number {
  return partitionPoint(run.from, run.to, (i) => run.items[i].peer < peer);
}

/** The pair elements of `row` towards the given peers (those it has). */
export function pairsTowards(row: TableRow, peers: Iterable<number>): PairElement[] {
  const out: PairElement[] = [];
  for (const p of peers) {
    for (const run of row.pairs) {
      const at = lowerBound(run, p);
      if (at < run.to && run.items[at].peer === p) out.push(run.items[at]);
    }
  }
  return out;
}

/** The runs without the elements of `peer` (a peer's elements are never split across runs). */
function removePeer<T extends { readonly peer: number }>(runs: ReadonlyArray<Run<T>>, peer: number): Array<Run<T>> {
  const out: Array<Run<T>> = [];
  for (const run of runs) {
    const at = lowerBound(run, peer);
    if (at >= run.to || run.items[at].peer !== peer) {
      out.push(run);
      continue;
    }
    let end = at;
    while (end < run.to && run.items[end].peer === peer) end++;
    if (at > run.from) out.push({ items: run.items, from: run.from, to: at });
    if (end < run.to) out.push({ items: run.items, from: end, to: run.to });
  }
  return out;
}

/** The runs with `group` (elements of one peer the runs do not have) put in its place. */
function insertGroup<T extends { readonly peer: number }>(runs: ReadonlyArray<Run<T>>, group: Run<T>): Array<Run<T>> {
  const peer = group.items[group.from].peer;
  const out: Array<Run<T>> = [];
  let done = false;
  for (const run of runs) {
    if (!done && run.items[run.to - 1].peer > peer) {
      const at = lowerBound(run, peer);
      if (at > run.from) out.push({ items: run.items, from: run.from, to: at });
      out.push(group);
      out.push({ items: run.items, from: at, to: run.to });
      done = true;
    } else out.push(run);
  }
  if (!done) out.push(group);
  return out;
}

/** The elements of some runs as one array. */
function concatRuns<T>(runs: ReadonlyArray<Run<T>>): T[] {
  let n = 0;
  for (const r of runs) n += r.to - r.from;
  const out = new Array<T>(n);
  let k = 0;
  for (const r of runs) for (let i = r.from; i < r.to; i++) out[k++] = r.items[i];
  return out;
}

/** Runs without the elements of peers in `drop`, with `add` (sorted by peer, none a peer of the runs that stays) in place. */
function edit<T extends { readonly peer: number }>(runs: ReadonlyArray<Run<T>>, drop: ReadonlySet<number>, add: readonly T[]): ReadonlyArray<Run<T>> {
  let out: ReadonlyArray<Run<T>> = runs;
  for (const peer of drop) out = removePeer(out, peer);
  if (out.length === 0) return add.length > 0 ? [whole(add)] : [];
  for (let k = 0; k < add.length; ) {
    let j = k + 1;
    while (j < add.length && add[j].peer === add[k].peer) j++;
    out = insertGroup(out, { items: add, from: k, to: j });
    k = j;
  }
  return out.length > MAX_RUNS ? [whole(concatRuns(out))] : out;
}

/** A row with the cells of peers in `drop` removed and `decisions`/`pairs` (sorted by peer) added; undefined when empty. */
export function editRow(row: TableRow | undefined, drop: ReadonlySet<number>, decisions: readonly DecisionElement[], pairs: readonly PairElement[]): TableRow | undefined {
  const d = edit(row?.decisions ?? [], drop, decisions);
  const p = edit(row?.pairs ?? [], drop, pairs);
  return d.length === 0 ? undefined : { decisions: d, pairs: p };
}

/** The elements of every row, in table order: the flat sorted list. */
export function flatten<T>(rows: Rows, pick: (r: TableRow) => ReadonlyArray<Run<T>>): T[] {
  const keys = [...rows.keys()].sort((a, b) => a - b);
  const runs: Array<Run<T>> = [];
  for (const k of keys) runs.push(...pick(rows.get(k)!));
  return concatRuns(runs);
}

/** Every pair element of a row (for the drop of whole rows). */
export function rowPairs(row: TableRow): PairElement[] {
  return concatRuns(row.pairs);
}
