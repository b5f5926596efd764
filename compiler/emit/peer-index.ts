// Which identities rule peers can select, by identity id: the members of each group (pods
// peers) and the identities whose address class has each part (cidr peers). decisions.ts builds
// it while computing a table and leaves it here, keyed by the identity list; updateMembership
// derives the next list's index from the previous one when identities appear or vanish (a new
// layer with the few changed groups), so the row of a new subject identity is computed without
// indexing every identity again.

import type { Cluster } from '../model/cluster.js';
import { endpointIp } from '../evaluate/endpoints.js';
import type { Identity } from './identities.js';
import { identityAddressClass } from './identities.js';
import { LayeredMap } from './layered-map.js';
import { partitionPoint } from './sorted.js';

export interface PeerIndex {
  /** Group id -> ids of the identities in it (ascending). */
  readonly byGroup: LayeredMap<string, readonly number[]>;
  /** Address-class part (a cidr peer key) -> ids of the identities whose class has it (ascending). */
  readonly byClass: LayeredMap<string, readonly number[]>;
}

const indexes = new WeakMap<readonly Identity[], PeerIndex>();

/**
 * What decisions.ts derives from an identity list by position (index in the list sorted by id):
 * the positions of each group's and class's members, each rule's peer set, single-peer answers.
 * A list derived without identities appearing or vanishing has the same ids at the same
 * positions, so it shares its predecessor's cache: the row of a new subject (a pod added to a
 * node, whose identity already exists) then reuses the peer sets the previous update built
 * instead of rebuilding them (a 3,000-pair row at 50k pods / 10k policies: 3.3-3.7 -> 2.5-2.8 ms of
 * CPU, warm, /tmp measurement in session 6).
 * `nodes`: the node list nodes peers were judged against (another list empties the cache).
 */
export interface PositionCache {
  nodes?: Cluster['nodes'];
  readonly members: Map<string, readonly number[]>;
  readonly peerSets: Map<string, unknown>;
  readonly single: Map<string, Map<number, boolean>>;
}

const positionCaches = new WeakMap<readonly Identity[], PositionCache>();

/** The position cache of an identity list (shared along derivations that keep every position). */
export function positionCache(identities: readonly Identity[], nodes: Cluster['nodes']): PositionCache {
  let c = positionCaches.get(identities);
  if (!c) positionCaches.set(identities, (c = { nodes, members: new Map(), peerSets: new Map(), single: new Map() }));
  if (c.nodes !== nodes) {
    c.members.clear();
    c.peerSets.clear();
    c.single.clear();
    c.nodes = nodes;
  }
  return c;
}

/** The identities whose representative has a node's address (only they can match a nodes peer). */
interface OnNodes {
  readonly nodes: Cluster['nodes'];
  readonly ips: ReadonlySet<string>;
  /** Ascending. */
  readonly ids: readonly number[];
}

const onNodes = new WeakMap<readonly Identity[], OnNodes>();

/** Ids (ascending) of the identities whose representative has an address of one of `nodes`: kept per list, derived with the peer index. */
export function nodeIdentityIds(identities: readonly Identity[], nodes: Cluster['nodes']): readonly number[] {
  const cached = onNodes.get(identities);
  if (cached && cached.nodes === nodes) return cached.ids;
  const ips = new Set(nodes.flatMap((n) => n.ips));
  const ids: number[] = [];
  for (const ident of identities) {
    const ip = endpointIp(ident.representative);
    if (ip !== undefined && ips.has(ip)) ids.push(ident.id);
  }
  onNodes.set(identities, { nodes, ips, ids });
  return ids;
}

/** The address-class parts of an identity (empty for most: no cidr peer holds their addresses). */
export function classParts(identity: Identity): string[] {
  const cls = identityAddressClass(identity.key);
  return cls === '' ? [] : [...new Set(cls.split('|'))];
}

/** Records the index of `identities` (lists of ids, ascending; taken over as they are). */
export function registerPeerIndex(identities: readonly Identity[], byGroup: ReadonlyMap<string, readonly number[]>, byClass: ReadonlyMap<string, readonly number[]>): void {
  if (!indexes.has(identities)) indexes.set(identities, { byGroup: LayeredMap.of(byGroup), byClass: LayeredMap.of(byClass) });
}

/** The index of an identity list sorted by id: cached, converted or built. */
export function peerIndex(identities: readonly Identity[]): PeerIndex {
  const cached = indexes.get(identities);
  if (cached) return cached;
  let ix: PeerIndex;
  {
    const g = new Map<string, number[]>();
    const c = new Map<string, number[]>();
    const add = (m: Map<string, number[]>, k: string, id: number) => {
      let l = m.get(k);
      if (!l) m.set(k, (l = []));
      l.push(id);
    };
    for (const ident of identities) {
      for (const group of ident.groups) add(g, group, ident.id);
      for (const part of classParts(ident)) add(c, part, ident.id);
    }
    ix = { byGroup: LayeredMap.of<string, readonly number[]>(g), byClass: LayeredMap.of<string, readonly number[]>(c) };
  }
  indexes.set(identities, ix);
  return ix;
}

function insertId(list: readonly number[] | undefined, id: number): number[] {
  const out = list ? list.slice() : [];
  const at = partitionPoint(0, out.length, (i) => out[i] < id);
  if (out[at] !== id) out.splice(at, 0, id);
  return out;
}

function removeId(list: readonly number[] | undefined, id: number): number[] | undefined {
  if (!list) return undefined;
  const out = list.filter((x) => x !== id);
  return out.length > 0 ? out : undefined;
}

/**
 * The index of `to`: that of `from` (when it has one) with `removed` taken out and `added` put
 * in. Identities whose groups and class did not change keep their entries as they are.
 */
export function derivePeerIndex(from: readonly Identity[], to: readonly Identity[], added: readonly Identity[], removed: readonly Identity[]): void {
  // same ids at the same positions, same groups and classes (an identity's key fixes them)
  const positions = positionCaches.get(from);
  if (positions && added.length === 0 && removed.length === 0 && !positionCaches.has(to)) positionCaches.set(to, positions);
  const n = onNodes.get(from);
  if (n && !onNodes.has(to)) {
    const gone = new Set(removed.map((i) => i.id));
    const ids = n.ids.filter((id) => !gone.has(id));
    for (const ident of added) {
      const ip = endpointIp(ident.representative);
      if (ip !== undefined && n.ips.has(ip)) ids.push(ident.id);
    }
    onNodes.set(to, { ...n, ids: ids.sort((a, b) => a - b) });
  }
  if (indexes.has(to) || !indexes.has(from)) return;
  const base = peerIndex(from);
  const groups = new Map<string, readonly number[] | undefined>();
  const classes = new Map<string, readonly number[] | undefined>();
  const edit = (m: Map<string, readonly number[] | undefined>, lm: LayeredMap<string, readonly number[]>, k: string, f: (l: readonly number[] | undefined) => readonly number[] | undefined) => {
    m.set(k, f(m.has(k) ? m.get(k) : lm.get(k)));
  };
  for (const ident of removed) {
    for (const g of ident.groups) edit(groups, base.byGroup, g, (l) => removeId(l, ident.id));
    for (const p of classParts(ident)) edit(classes, base.byClass, p, (l) => removeId(l, ident.id));
  }
  for (const ident of added) {
    for (const g of ident.groups) edit(groups, base.byGroup, g, (l) => insertId(l, ident.id));
    for (const p of classParts(ident)) edit(classes, base.byClass, p, (l) => insertId(l, ident.id));
  }
  indexes.set(to, { byGroup: base.byGroup.with(groups), byClass: base.byClass.with(classes) });
}
