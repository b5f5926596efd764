// Donors for daemon-apply.ts's cold scenario: pods of other nodes whose copy, put on the daemon's
// node under a new name and address, lands in an identity the node-local table has no decision
// row for (no pod of the node has it, it is no subject of the table's pairs or isolation), and
// that no earlier change of the benchmark put on the node. One donor per identity. Chosen
// offline with the compiler's own code: the identity key a copy gets at its new address is
// podIdentityKey (what computeIdentities gives it), and the copy must land in an identity the
// cluster already has (a pod of another node holds it), so only the node-local table changes.
import type { Membership } from '../compiler/emit/membership.js';
import { PodClassifier, podIdentityKey } from '../compiler/emit/identities.js';
import { parseIp } from '../compiler/ir/cidr.js';
import type { Program } from '../compiler/ir/types.js';
import type { Cluster, ClusterPod } from '../compiler/model/cluster.js';

type Obj = Record<string, any>;

export interface ColdDonor {
  /** the donor as generated (copied under a new name, node and address) */
  pod: Obj;
  /** the copy's address */
  ip: string;
  /** the copy's identity key and number (an existing identity of pods of other nodes) */
  key: string;
  identity: number;
  /** whether the donor itself (at its own address) has that identity */
  sameAsDonor: boolean;
}

export interface ColdDonorOptions {
  program: Program;
  cluster: Cluster;
  /** the node-local membership of the daemon's node (computeMembership with localPods) */
  scoped: Membership;
  localPods: ReadonlySet<string>;
  /** pods of other nodes, in the order to try */
  candidates: readonly Obj[];
  /** the address of the i-th copy */
  ipFor: (i: number) => string;
  count: number;
  /** pods the benchmark puts on the node before (copies, relabels): their identities are not cold either */
  alsoHad: readonly ClusterPod[];
}

export interface ColdDonorResult {
  donors: ColdDonor[];
  /** identities the node-local table has as subjects or its pods have */
  localIdentities: number;
  /** per alsoHad pod: whether its identity already was one of those */
  alsoHadLocal: boolean[];
}

export function coldDonors(o: ColdDonorOptions): ColdDonorResult {
  const classifier = new PodClassifier(o.program, o.cluster);
  const keyOf = (pod: ClusterPod, ip: string): string => {
    const a = parseIp(ip);
    if (!a) throw new Error(`bad address ${ip}`);
    return podIdentityKey(classifier, pod, a.family, a.value);
  };
  const byId = o.scoped.identities.byId;
  const excluded = new Set<string>();
  const addId = (id: number) => {
    const i = byId.get(id);
    if (i) excluded.add(i.key);
  };
  for (const e of o.scoped.identityElements) if (e.pod !== undefined && o.localPods.has(e.pod)) addId(e.identity);
  for (const p of o.scoped.layout.pairs) addId(p.subject);
  for (const list of Object.values(o.scoped.isolated)) for (const id of list) addId(id);
  const localIdentities = excluded.size;
  const alsoHadLocal = o.alsoHad.map((pod) => pod.ips.every((ip) => excluded.has(keyOf(pod, ip))));
  for (const pod of o.alsoHad) for (const ip of pod.ips) excluded.add(keyOf(pod, ip));
  const clusterPods = new Map(o.cluster.pods.map((p) => [`${p.namespace}/${p.name}`, p]));
  const donors: ColdDonor[] = [];
  for (const d of o.candidates) {
    if (donors.length >= o.count) break;
    const cp = clusterPods.get(`${d.metadata.namespace}/${d.metadata.name}`);
    if (!cp || cp.ips.length === 0) continue;
    const ip = o.ipFor(donors.length);
    const key = keyOf({ ...cp, name: `${cp.name}-cold-copy`, ips: [ip] }, ip);
    if (excluded.has(key)) continue;
    const identity = o.scoped.assignment.get(key);
    if (identity === undefined) continue;
    excluded.add(key);
    donors.push({ pod: d, ip, key, identity, sameAsDonor: cp.ips.every((x) => keyOf(cp, x) === key) });
  }
  return { donors, localIdentities, alsoHadLocal };
}
