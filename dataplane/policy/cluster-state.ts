// The cluster as this node's policy engine sees it: namespaces, pods and nodes pushed over the
// socket ('cluster-state', kubectl-style objects, whole or incremental), completed by the
// endpoints the CNI side wired here. Endpoint IPs win over the API's podIPs for the same pod
// (they are what the kernel routes), an endpoint whose pod the API has not told us about yet
// still counts as a pod of its namespace (labels unknown: {}), and an API address that a live
// endpoint of another pod now holds is dropped (a stale podIP after reuse).
//
// Objects are converted with the compiler's own buildCluster, one at a time, so the daemon and
// `policyc compile` read Pod/Namespace/Node objects identically (hostNetwork pods skipped, the
// kubernetes.io/metadata.name label added, named ports collected).
import { buildCluster, comparePodKey, markSortedPods, type Cluster, type ClusterNamespace, type ClusterNode, type ClusterPod, NAMESPACE_NAME_LABEL } from '../../compiler/model/cluster.js';
import { partitionPoint } from '../../compiler/emit/sorted.js';
import type { Sourced } from '../../compiler/model/inputs.js';
import type { Namespace, Node, Pod } from '../../compiler/model/k8s-types.js';
import type { ParsedDocument } from '../../compiler/syntax/documents.js';

/** What the engine needs from an endpoint record (dataplane/daemon/endpoints.ts). */
export interface EndpointLike {
  containerId: string;
  ifname: string;
  namespace?: string;
  podName?: string;
  ips: string[];
}

export interface ObjectRef {
  kind: 'Pod' | 'Namespace' | 'Node';
  namespace?: string;
  name: string;
}

/** A whole state (replaces everything) or an incremental change. */
export type ClusterStateBody =
  | { namespaces?: unknown[]; pods?: unknown[]; nodes?: unknown[] }
  | { upsert?: unknown[]; delete?: ObjectRef[] };

/** What a change touched, so the engine can pick the one-pod path. */
export interface ClusterChange {
  full: boolean;
  /** pod keys (namespace/name) upserted or deleted */
  pods: string[];
  namespaces: string[];
  nodes: string[];
  /**
   * Set when the change only replaced labels/ports of pods that keep their key and addresses:
   * each pod before and after (as in cluster()). The cached cluster was patched in place.
   */
  relabeled?: Array<{ before: ClusterPod; after: ClusterPod }>;
}

export interface PersistedClusterState {
  namespaces: ClusterNamespace[];
  pods: ClusterPod[];
  nodes: ClusterNode[];
}

const FAKE_FILE = { name: 'cluster-state', text: '' };

function sourced<T>(object: T): Sourced<T> {
  const doc: ParsedDocument = { file: FAKE_FILE, index: 0, start: 0, end: 0, value: object };
  return { object, doc, path: [] };
}

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One kubectl-style Pod object -> ClusterPod (undefined: hostNetwork or unnamed). */
export function podFromObject(obj: unknown): ClusterPod | undefined {
  if (!isObject(obj)) throw new Error('a pod must be an object');
  const { cluster } = buildCluster({ policies: [], pods: [sourced(obj as unknown as Pod)], namespaces: [], nodes: [], diagnostics: [] });
  const pod = cluster.pods[0];
  return pod ? stripSpan(pod) : undefined;
}

export function namespaceFromObject(obj: unknown): ClusterNamespace | undefined {
  if (!isObject(obj)) throw new Error('a namespace must be an object');
  const { cluster } = buildCluster({ policies: [], pods: [], namespaces: [sourced(obj as unknown as Namespace)], nodes: [], diagnostics: [] });
  const ns = [...cluster.namespaces.values()][0];
  return ns ? { name: ns.name, labels: ns.labels } : undefined;
}

export function nodeFromObject(obj: unknown): ClusterNode | undefined {
  if (!isObject(obj)) throw new Error('a node must be an object');
  const { cluster } = buildCluster({ policies: [], pods: [], namespaces: [], nodes: [sourced(obj as unknown as Node)], diagnostics: [] });
  return cluster.nodes[0];
}

function stripSpan(pod: ClusterPod): ClusterPod {
  const { span: _span, ...rest } = pod;
  return rest;
}

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function bareIp(text: string): string {
  const slash = text.indexOf('/');
  return slash < 0 ? text : text.slice(0, slash);
}

export class ClusterState {
  private namespaces = new Map<string, ClusterNamespace>();
  private pods = new Map<string, ClusterPod>();
  private nodes = new Map<string, ClusterNode>();
  /** endpoint key (containerId/ifname) -> endpoint, live ones only */
  private endpoints = new Map<string, EndpointLike>();
  private cached?: { cluster: Cluster };
  /** localPods' answer for the cached cluster (brought along by patchPods, dropped with the cache) */
  private local?: { nodeName: string; pods: ReadonlySet<string> };
  /** whether any cluster state was pushed (else membership can only come from endpoints) */
  pushed = false;
  generation = 0;

  static restore(p: PersistedClusterState): ClusterState {
    const s = new ClusterState();
    for (const n of p.namespaces) s.namespaces.set(n.name, n);
    for (const pod of p.pods) s.pods.set(key(pod.namespace, pod.name), pod);
    for (const n of p.nodes) s.nodes.set(n.name, n);
    s.pushed = true;
    return s;
  }

  persisted(): PersistedClusterState {
    return { namespaces: [...this.namespaces.values()], pods: [...this.pods.values()], nodes: [...this.nodes.values()] };
  }

  counts(): { namespaces: number; pods: number; nodes: number; endpoints: number } {
    return { namespaces: this.namespaces.size, pods: this.pods.size, nodes: this.nodes.size, endpoints: this.endpoints.size };
  }

  /** Applies a pushed body; throws (changing nothing) on a malformed one. */
  apply(body: unknown): ClusterChange {
    if (!isObject(body)) throw new Error('cluster-state must be an object');
    if ('upsert' in body || 'delete' in body) return this.applyIncremental(body);
    if (!('pods' in body) && !('namespaces' in body) && !('nodes' in body)) throw new Error('cluster-state needs namespaces/pods/nodes or upsert/delete');
    const namespaces = new Map<string, ClusterNamespace>();
    const pods = new Map<string, ClusterPod>();
    const nodes = new Map<string, ClusterNode>();
    for (const o of arrayField(body, 'namespaces')) {
      const ns = namespaceFromObject(o);
      if (ns) namespaces.set(ns.name, ns);
    }
    for (const o of arrayField(body, 'pods')) {
      const pod = podFromObject(o);
      if (pod) pods.set(key(pod.namespace, pod.name), pod);
    }
    for (const o of arrayField(body, 'nodes')) {
      const n = nodeFromObject(o);
      if (n) nodes.set(n.name, n);
    }
    this.namespaces = namespaces;
    this.pods = pods;
    this.nodes = nodes;
    this.pushed = true;
    this.changed();
    return { full: true, pods: [], namespaces: [], nodes: [] };
  }

  private applyIncremental(body: Record<string, any>): ClusterChange {
    const change: ClusterChange = { full: false, pods: [], namespaces: [], nodes: [] };
    // convert everything first so a bad object changes nothing
    const ups: Array<() => void> = [];
    for (const o of arrayField(body, 'upsert')) {
      const kind = isObject(o) ? o.kind : undefined;
      if (kind === 'Pod') {
        const pod = podFromObject(o);
        const meta = (o as any).metadata ?? {};
        const k = key(typeof meta.namespace === 'string' ? meta.namespace : 'default', String(meta.name));
        change.pods.push(k);
        // a pod that turned hostNetwork leaves the endpoint set
        ups.push(() => (pod ? this.pods.set(k, pod) : this.pods.delete(k)));
      } else if (kind === 'Namespace') {
        const ns = namespaceFromObject(o);
        if (!ns) throw new Error('a namespace needs metadata.name');
        change.namespaces.push(ns.name);
        ups.push(() => this.namespaces.set(ns.name, ns));
      } else if (kind === 'Node') {
        const n = nodeFromObject(o);
        if (!n) throw new Error('a node needs metadata.name');
        change.nodes.push(n.name);
        ups.push(() => this.nodes.set(n.name, n));
      } else {
        throw new Error(`cannot upsert kind ${JSON.stringify(kind)} (Pod, Namespace or Node)`);
      }
    }
    for (const ref of arrayField(body, 'delete') as ObjectRef[]) {
      if (!isObject(ref) || typeof ref.name !== 'string') throw new Error('a delete needs kind and name');
      if (ref.kind === 'Pod') {
        const k = key(ref.namespace ?? 'default', ref.name);
        change.pods.push(k);
        ups.push(() => this.pods.delete(k));
      } else if (ref.kind === 'Namespace') {
        change.namespaces.push(ref.name);
        ups.push(() => this.namespaces.delete(ref.name));
      } else if (ref.kind === 'Node') {
        change.nodes.push(ref.name);
        ups.push(() => this.nodes.delete(ref.name));
      } else {
        throw new Error(`cannot delete kind ${JSON.stringify(ref.kind)}`);
      }
    }
    const onlyPods = change.namespaces.length === 0 && change.nodes.length === 0 && !('delete' in body && arrayField(body, 'delete').length > 0);
    const before = onlyPods && this.cached && this.pushed && new Set(change.pods).size === change.pods.length ? change.pods.map((k) => this.effectivePod(k)) : undefined;
    for (const u of ups) u();
    const podsOnly = change.namespaces.length === 0 && change.nodes.length === 0 && this.pushed;
    this.pushed = true;
    if (before && before.every((p) => p !== undefined)) {
      const relabeled: Array<{ before: ClusterPod; after: ClusterPod }> = [];
      for (const [i, k] of change.pods.entries()) {
        const after = this.effectiveFromApi(k);
        const b = before[i]!;
        if (!after || after.namespace !== b.namespace || after.ips.length !== b.ips.length || after.ips.some((ip, j) => ip !== b.ips[j])) break;
        relabeled.push({ before: b, after });
      }
      if (relabeled.length === change.pods.length) {
        for (const r of relabeled) this.patchCachedPod(r.after);
        this.generation++;
        change.relabeled = relabeled;
        return change;
      }
    }
    if (podsOnly && this.patchPods(change.pods, [])) this.generation++;
    else this.changed();
    return change;
  }

  /** The live endpoints in the order they were added (the reconcile worker's replica starts from them). */
  endpointList(): EndpointLike[] {
    return [...this.endpoints.values()];
  }

  /** Replaces the endpoint set (daemon start). */
  setEndpoints(eps: readonly EndpointLike[]): void {
    this.endpoints = new Map(eps.map((e) => [`${e.containerId}/${e.ifname}`, e]));
    this.changed();
  }

  /** Returns the pod key the endpoint belongs to (if it names one). */
  addEndpoint(ep: EndpointLike): string | undefined {
    this.endpoints.set(`${ep.containerId}/${ep.ifname}`, ep);
    return this.endpointChanged(ep);
  }

  removeEndpoint(ep: EndpointLike): string | undefined {
    this.endpoints.delete(`${ep.containerId}/${ep.ifname}`);
    return this.endpointChanged(ep);
  }

  /** An endpoint came or went: its pod's effective addresses change (patched in place of a rebuild when only that pod is affected). */
  private endpointChanged(ep: EndpointLike): string | undefined {
    const k = ep.namespace && ep.podName ? key(ep.namespace, ep.podName) : undefined;
    if (k && this.patchPods([k], ep.ips.map(bareIp))) this.generation++;
    else this.changed();
    return k;
  }

  private changed(): void {
    this.generation++;
    this.cached = undefined;
    this.local = undefined;
  }

  /**
   * The pods (`namespace/name`) a node-local table must hold decisions for: the pods the API
   * places on `nodeName` (spec.nodeName) plus every pod with an endpoint wired here, whatever
   * the API says (an endpoint is on this node by construction). Without a node name:
   * undefined, a cluster-wide table (the daemon cannot tell which API pods run here, and a
   * missing local pod would lose its rows: never fewer decisions than needed).
   */
  localPods(nodeName: string | undefined): ReadonlySet<string> | undefined {
    if (!nodeName) return undefined;
    const cluster = this.build().cluster;
    if (this.local?.nodeName === nodeName) return this.local.pods;
    const out = new Set<string>();
    for (const pod of cluster.pods) if (pod.node === nodeName) out.add(key(pod.namespace, pod.name));
    for (const ep of this.endpoints.values()) if (ep.namespace && ep.podName) out.add(key(ep.namespace, ep.podName));
    this.local = { nodeName, pods: out };
    return out;
  }

  /** The cluster membership is computed from: API pods with endpoint IPs merged in, sorted. */
  cluster(): Cluster {
    return this.build().cluster;
  }

  /** The effective pod (as in cluster()) by key. */
  effectivePod(podKey: string): ClusterPod | undefined {
    const pods = this.build().cluster.pods;
    const i = podPosition(pods, podKey);
    return i < pods.length && podKeyOf(pods[i]) === podKey ? pods[i] : undefined;
  }

  /** Replaces one pod in the cached cluster (same key and addresses) without a rebuild. */
  private patchCachedPod(pod: ClusterPod): boolean {
    if (!this.cached) return false;
    const pods = this.cached.cluster.pods as ClusterPod[];
    const i = podPosition(pods, key(pod.namespace, pod.name));
    if (i >= pods.length || podKeyOf(pods[i]) !== key(pod.namespace, pod.name)) return false;
    if (pods[i].node !== pod.node) this.local = undefined;
    pods[i] = pod;
    return true;
  }

  /**
   * The named pods (added, changed or removed in the API objects, or whose endpoints changed)
   * put into a copy of the cached cluster, without a rebuild: a full build sorts and copies
   * every pod (~170 ms at 50k pods), and gives the cluster a new nodes array, which makes the
   * compiler's address classifier (keyed by that array) rebuild too (~40 ms). The copy is a new
   * pods array and cluster object (a membership computed from the previous cluster may still
   * read its pods' old addresses there) sharing the namespaces map and the nodes array. False
   * (a rebuild is needed): no cache; a pod of a namespace the cache does not hold, or the last
   * pod of a namespace only pods name; a pod that only an endpoint names; an address in
   * `claims` (an endpoint's) that another API pod holds, whose effective addresses would change
   * too.
   */
  private patchPods(keys: readonly string[], claims: readonly string[]): boolean {
    if (!this.cached) return false;
    if (claims.length > 0) {
      const mine = new Set(keys);
      for (const [k, pod] of this.pods) if (!mine.has(k) && pod.ips.some((ip) => claims.includes(ip))) return false;
    }
    const old = this.cached.cluster;
    const pods = old.pods.slice();
    const local = this.local ? new Set(this.local.pods) : undefined;
    const withEndpoint = local ? new Set(this.endpointIpsByPod().keys()) : undefined;
    for (const k of new Set(keys)) {
      const api = this.pods.has(k);
      const after = api ? this.effectiveFromApi(k) : undefined;
      if (!api && this.endpointIpsByPod().has(k)) return false;
      if (after && !old.namespaces.has(after.namespace)) return false;
      const i = podPosition(pods, k);
      const present = i < pods.length && podKeyOf(pods[i]) === k;
      // the last pod of a namespace only pods name: a build would drop that namespace
      if (!after && present && !this.namespaces.has(pods[i].namespace)) return false;
      if (after && present) pods[i] = after;
      else if (after) pods.splice(i, 0, after);
      else if (present) pods.splice(i, 1);
      if (local && ((after && after.node === this.local!.nodeName) || withEndpoint!.has(k))) local.add(k);
      else local?.delete(k);
    }
    this.cached = { cluster: { namespaces: old.namespaces, pods: markSortedPods(pods), nodes: old.nodes } };
    // a new set only when it changed (the engine tells a changed scope by content, the compiler by object)
    if (this.local && local && !sameSet(local, this.local.pods)) this.local = { nodeName: this.local.nodeName, pods: local };
    return true;
  }

  /** The effective pod the API object gives, computed without the cache. */
  private effectiveFromApi(podKey: string): ClusterPod | undefined {
    const api = this.pods.get(podKey);
    if (!api) return undefined;
    const byPod = this.endpointIpsByPod();
    const ips = byPod.get(podKey);
    if (ips) return { ...api, ips };
    const claimed = new Set<string>();
    for (const [k, list] of byPod) if (k !== podKey) for (const ip of list) claimed.add(ip);
    return { ...api, ips: api.ips.filter((ip) => !claimed.has(ip)) };
  }

  private endpointIpsByPod(): Map<string, string[]> {
    const byPod = new Map<string, string[]>();
    for (const ep of this.endpoints.values()) {
      if (!ep.namespace || !ep.podName) continue;
      const k = key(ep.namespace, ep.podName);
      const list = byPod.get(k) ?? [];
      for (const ip of ep.ips) {
        const bare = bareIp(ip);
        if (!list.includes(bare)) list.push(bare);
      }
      byPod.set(k, list);
    }
    return byPod;
  }

  private build(): { cluster: Cluster } {
    if (this.cached) return this.cached;
    const byPod = this.endpointIpsByPod();
    const claimed = new Map<string, string>();
    for (const [k, ips] of byPod) for (const ip of ips) claimed.set(ip, k);
    const pods = new Map<string, ClusterPod>();
    for (const [k, pod] of this.pods) {
      const ips = byPod.get(k) ?? pod.ips.filter((ip) => {
        const owner = claimed.get(ip);
        return owner === undefined || owner === k;
      });
      pods.set(k, ips === pod.ips ? pod : { ...pod, ips });
    }
    for (const [k, ips] of byPod) {
      if (pods.has(k)) continue;
      const slash = k.indexOf('/');
      pods.set(k, { namespace: k.slice(0, slash), name: k.slice(slash + 1), labels: {}, ips, ports: [] });
    }
    const sorted = [...pods.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const namespaces = new Map(this.namespaces);
    for (const [, pod] of sorted) {
      if (!namespaces.has(pod.namespace)) namespaces.set(pod.namespace, { name: pod.namespace, labels: { [NAMESPACE_NAME_LABEL]: pod.namespace } });
    }
    const nodes = [...this.nodes.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    this.cached = { cluster: { namespaces, pods: markSortedPods(sorted.map((e) => e[1])), nodes } };
    return this.cached;
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

function podKeyOf(pod: ClusterPod): string {
  return key(pod.namespace, pod.name);
}

/** Where `podKey` is, or would go, in pods sorted by namespace/name (the cluster's order). */
function podPosition(pods: readonly ClusterPod[], podKey: string): number {
  return partitionPoint(0, pods.length, (i) => comparePodKey(pods[i], podKey) < 0);
}

function arrayField(body: Record<string, any>, name: string): unknown[] {
  const v = body[name];
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new Error(`cluster-state: ${name} must be an array`);
  return v;
}
