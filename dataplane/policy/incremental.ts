// The one-pod path: a pod's labels (or named ports) change while its addresses stay. When the
// pod moves into an identity that already exists and its old identity keeps other members, the
// set of identities is unchanged, so decisions and isolation are unchanged too (they are
// functions of the identities) and exactly one ip -> identity element per address changes (in
// both the source and destination maps). That is computed here in O(groups) instead of
// recomputing the whole membership (O(pods x groups + identities^2)).
//
// The identity key is rebuilt the way compiler/emit/identities.ts builds it:
//   pod;g=<group ids>;p=<referenced named ports>;a=<address class>   or   world;a=<class>
// The address class depends only on the address, so it is taken from the old key. If that format
// ever changes, the new key is simply not found and the caller falls back to the full
// computation; the engine's reconcile pass (full computeMembership + membershipDiff after a
// quiet period) would also correct any drift. TODO(compiler): export a podIdentityKey() from
// identities.ts so this file does not restate the format.
import type { Membership, MembershipDiff } from '../../compiler/emit/membership.js';
import type { Identity, IdentityElement, IdentityTable } from '../../compiler/emit/identities.js';
import { referencedPortNames } from '../../compiler/emit/identities.js';
import { podEndpoint } from '../../compiler/evaluate/endpoints.js';
import { groupMatches } from '../../compiler/evaluate/match.js';
import { parseIp } from '../../compiler/ir/cidr.js';
import type { Program } from '../../compiler/ir/types.js';
import type { Cluster, ClusterPod } from '../../compiler/model/cluster.js';

const portNamesCache = new WeakMap<Program, string[]>();
const addressIndexCache = new WeakMap<readonly IdentityElement[], Map<string, number>>();

function portNames(program: Program): string[] {
  let names = portNamesCache.get(program);
  if (!names) portNamesCache.set(program, (names = referencedPortNames(program)));
  return names;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
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

/** "family/value" -> index of the single-address element, built once per element array. */
function addressIndex(elements: readonly IdentityElement[]): Map<string, number> {
  let index = addressIndexCache.get(elements);
  if (!index) {
    index = new Map();
    for (const [i, e] of elements.entries()) if (e.first === e.last && e.pod !== undefined) index.set(`${e.family}/${e.first}`, i);
    addressIndexCache.set(elements, index);
  }
  return index;
}

function addressClassOf(key: string): string | undefined {
  const at = key.indexOf(';a=');
  return at < 0 ? undefined : key.slice(at + 3);
}

export type RelabelResult = { membership: Membership; diff: MembershipDiff } | { fallback: string };

/**
 * The membership after `pod` (same key and addresses as before, new labels/ports) changed, and
 * the element diff from `before`; or why the full computation is needed.
 */
export function relabelPod(program: Program, cluster: Cluster, before: Membership, pod: ClusterPod): RelabelResult {
  const elements = before.identityElements;
  const index = addressIndex(elements);
  const table = before.identities;
  const name = `${pod.namespace}/${pod.name}`;
  const base = podEndpoint(cluster, pod);
  const groupIds = program.groups.filter((g) => groupMatches(g, base).matched).map((g) => g.id);
  const ports = portKey(pod, portNames(program));
  const observed = groupIds.length > 0 || ports !== '';
  const changes: Array<{ at: number; old: IdentityElement; now: IdentityElement }> = [];
  const leaving = new Map<number, number>();
  for (const text of pod.ips) {
    const ip = parseIp(text);
    if (!ip) continue;
    const at = index.get(`${ip.family}/${ip.value}`);
    if (at === undefined) return { fallback: `address ${text} of ${name} has no element` };
    const old = elements[at];
    if (old.pod !== name) return { fallback: `address ${text} is owned by ${old.pod}` };
    const oldKey = table.byId.get(old.identity)?.key;
    const cls = oldKey === undefined ? undefined : addressClassOf(oldKey);
    if (cls === undefined) return { fallback: `identity ${old.identity} has no address class` };
    const key = observed ? `pod;g=${groupIds.join(',')};p=${ports};a=${cls}` : `world;a=${cls}`;
    const id = before.assignment.get(key);
    if (id === undefined) return { fallback: `${name} moves into a new identity` };
    if (id === old.identity) continue;
    if (!table.byId.get(id)?.families.includes(ip.family)) return { fallback: `identity ${id} has no IPv${ip.family} member yet` };
    changes.push({ at, old, now: { ...old, identity: id } });
    leaving.set(old.identity, (leaving.get(old.identity) ?? 0) + 1);
  }
  for (const [id, n] of leaving) {
    const ident = table.byId.get(id);
    if (!ident || ident.members <= n) return { fallback: `identity ${id} loses its last member` };
    // decisions pair identities by family: the old identity must keep every family it has
    if (ident.families.length > 1) {
      for (const c of changes) {
        if (c.old.identity !== id) continue;
        const stays = elements.some((e, i) => e.identity === id && e.family === c.old.family && !changes.some((x) => x.at === i));
        if (!stays) return { fallback: `identity ${id} loses its last IPv${c.old.family} member` };
      }
    }
  }
  if (changes.length === 0) return { membership: before, diff: emptyDiff() };
  const nextElements = elements.slice();
  const delta = new Map<number, number>();
  for (const c of changes) {
    nextElements[c.at] = c.now;
    delta.set(c.old.identity, (delta.get(c.old.identity) ?? 0) - 1);
    delta.set(c.now.identity, (delta.get(c.now.identity) ?? 0) + 1);
  }
  addressIndexCache.set(nextElements, index); // same positions
  const identities: Identity[] = table.identities.map((i) => (delta.has(i.id) ? { ...i, members: i.members + delta.get(i.id)! } : i));
  const nextTable: IdentityTable = { ...table, identities, byId: new Map(identities.map((i) => [i.id, i])), elements: nextElements };
  const membership: Membership = { ...before, identities: nextTable, identityElements: nextElements };
  const diff: MembershipDiff = {
    ...emptyDiff(),
    identity: { add: changes.map((c) => c.now), delete: changes.map((c) => c.old) },
  };
  return { membership, diff };
}

export function emptyDiff(): MembershipDiff {
  return {
    identity: { add: [], delete: [] },
    decisions: { add: [], delete: [] },
    isolated: { egress: { add: [], delete: [] }, ingress: { add: [], delete: [] } },
  };
}
