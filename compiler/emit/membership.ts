// Membership: the data half of the dataplane (ip -> identity, decisions, isolated subjects),
// which changes with the cluster while the rule skeleton does not. The node daemon calls
// computeMembership with the pods it sees and membershipDiff to get the element adds/deletes
// for one atomic batch. A one-pod label change that moves the pod into an identity that
// already exists (and leaves its old identity with members) changes exactly one ip -> identity
// element per address of the pod.

import type { Cluster } from '../model/cluster.js';
import type { Direction, Program } from '../ir/types.js';
import { computeIdentities, type IdentityElement, type IdentityTable } from './identities.js';
import { computeDecisions, DIRECTIONS, type DecisionElement, type DecisionTable } from './decisions.js';

export interface Membership {
  readonly identities: IdentityTable;
  readonly decisions: DecisionTable;
  readonly identityElements: readonly IdentityElement[];
  readonly decisionElements: readonly DecisionElement[];
  readonly isolated: Readonly<Record<Direction, readonly number[]>>;
  /** Identity key -> number; pass back as `previous` so surviving identities keep their numbers. */
  readonly assignment: ReadonlyMap<string, number>;
}

export interface ElementChanges<T> {
  readonly add: readonly T[];
  readonly delete: readonly T[];
}

export interface MembershipDiff {
  readonly identity: ElementChanges<IdentityElement>;
  readonly decisions: ElementChanges<DecisionElement>;
  readonly isolated: Readonly<Record<Direction, ElementChanges<number>>>;
}

export function computeMembership(program: Program, cluster: Cluster, previous?: Membership | ReadonlyMap<string, number>): Membership {
  const prev = previous === undefined ? undefined : previous instanceof Map ? previous : (previous as Membership).assignment;
  const identities = computeIdentities(program, cluster, { previous: prev as ReadonlyMap<string, number> | undefined });
  const decisions = computeDecisions(program, cluster, identities);
  return {
    identities,
    decisions,
    identityElements: identities.elements,
    decisionElements: decisions.elements,
    isolated: decisions.isolated,
    assignment: new Map(identities.identities.map((i) => [i.key, i.id])),
  };
}

export function identityElementKey(e: IdentityElement): string {
  return `${e.family}/${e.first}-${e.last}`;
}

export function decisionElementKey(e: DecisionElement): string {
  return `${e.direction}/${e.subject}/${e.peer}/${e.protoFrom}-${e.protoTo}/${e.portFrom}-${e.portTo}`;
}

function decisionValue(e: DecisionElement): string {
  return `${e.rule.action}/${e.rule.cookie}`;
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

/** Element changes from `before` to `after`: apply deletes first, then adds, in one batch. */
export function membershipDiff(before: Membership | undefined, after: Membership): MembershipDiff {
  const identity = diffBy(before?.identityElements ?? [], after.identityElements, identityElementKey, (e) => String(e.identity));
  const decisions = diffBy(before?.decisionElements ?? [], after.decisionElements, decisionElementKey, decisionValue);
  const isolated = {} as Record<Direction, ElementChanges<number>>;
  for (const d of DIRECTIONS) isolated[d] = diffBy(before?.isolated[d] ?? [], after.isolated[d], String, String);
  return { identity, decisions, isolated };
}

export function diffSize(d: MembershipDiff): number {
  let n = d.identity.add.length + d.identity.delete.length + d.decisions.add.length + d.decisions.delete.length;
  for (const dir of DIRECTIONS) n += d.isolated[dir].add.length + d.isolated[dir].delete.length;
  return n;
}
