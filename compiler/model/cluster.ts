// The cluster as policies see it: namespaces with labels, pods with labels, IPs and named
// ports, nodes with labels and addresses. Built from a snapshot (`kubectl get -o yaml`).

import { diagnostic, type Diagnostic } from '../diagnostics/diagnostic.js';
import type { Span } from '../syntax/source.js';
import { parseIp, type IpAddress } from '../ir/cidr.js';
import type { Labels } from '../ir/selector.js';
import type { Protocol } from './k8s-types.js';
import { fieldSpan, type Inputs, type Sourced } from './inputs.js';

export interface NamedPort {
  readonly name: string;
  readonly port: number;
  readonly protocol: Protocol;
}

export interface ClusterPod {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Labels;
  readonly ips: readonly string[];
  readonly node?: string;
  readonly ports: readonly NamedPort[];
  readonly span?: Span;
}

export interface ClusterNamespace {
  readonly name: string;
  /** Including `kubernetes.io/metadata.name`, which the API server always sets. */
  readonly labels: Labels;
  readonly span?: Span;
}

export interface ClusterNode {
  readonly name: string;
  readonly labels: Labels;
  readonly ips: readonly string[];
  readonly podCIDRs: readonly string[];
}

export interface Cluster {
  readonly namespaces: ReadonlyMap<string, ClusterNamespace>;
  /** Sorted by namespace/name. */
  readonly pods: readonly ClusterPod[];
  readonly nodes: readonly ClusterNode[];
}

export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export function namespaceLabels(cluster: Cluster, namespace: string): Labels {
  return cluster.namespaces.get(namespace)?.labels ?? { [NAMESPACE_NAME_LABEL]: namespace };
}

export function podKey(pod: { namespace: string; name: string }): string {
  return `${pod.namespace}/${pod.name}`;
}

export function findPod(cluster: Cluster, namespace: string, name: string): ClusterPod | undefined {
  return cluster.pods.find((p) => p.namespace === namespace && p.name === name);
}

export function podByIp(cluster: Cluster, ip: string): ClusterPod | undefined {
  const want = parseIp(ip);
  if (!want) return undefined;
  return cluster.pods.find((p) => p.ips.some((x) => sameIp(parseIp(x), want)));
}

function sameIp(a: IpAddress | undefined, b: IpAddress): boolean {
  return !!a && a.family === b.family && a.value === b.value;
}

function stringLabels(raw: unknown): Record<string, string> {
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    // Labels are read-only here and almost always already strings: keep the parsed object then
    // (50k pods' labels copied were 50k objects more for the collector to move).
    if (allStrings(raw as Record<string, unknown>)) return raw as Record<string, string>;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw)) if (v !== null && v !== undefined) out[k] = String(v);
    return out;
  }
  return {};
}

/** A plain object whose own properties are all strings, none of them `__proto__` (a copy drops it). */
function allStrings(raw: Record<string, unknown>): boolean {
  if (Object.getPrototypeOf(raw) !== Object.prototype) return false;
  for (const key in raw) {
    if (!Object.prototype.hasOwnProperty.call(raw, key)) return false;
    if (typeof raw[key] !== 'string' || key === '__proto__') return false;
  }
  return true;
}

function asProtocol(p: unknown): Protocol {
  return p === 'UDP' || p === 'SCTP' ? p : 'TCP';
}

export function emptyCluster(): Cluster {
  return { namespaces: new Map(), pods: [], nodes: [] };
}

const documentSpans = new WeakMap<object, Span>();

/**
 * fieldSpan(src, []): a snapshot is parsed without positions, so every object of a document
 * then has the document's start as its span, one shared object rather than 50k equal ones.
 */
function objectSpan(src: Sourced): Span {
  if (src.doc.positions) return fieldSpan(src, []);
  let span = documentSpans.get(src.doc);
  if (!span) {
    span = fieldSpan(src, []);
    documentSpans.set(src.doc, span);
  }
  return span;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The pods in podKey order (`namespace/name`). Between two namespaces that order depends on
 * the namespaces alone when neither contains a `/` (the first difference comes before or at
 * the `/`): then the few namespaces are sorted, and each one's pods by name, with fewer and
 * shorter comparisons than sorting 50k keys (the largest part of building the cluster).
 */
/**
 * Pod arrays known to be sorted by `namespace/name` (the podKey order): sortPods' output, and the
 * copies their owners keep sorted (the node daemon's ClusterState). A lookup that misses in one
 * by binary search may stop there instead of scanning every pod (~4 ms at 50k pods, for every
 * pod that appears or vanishes).
 */
const sortedPodLists = new WeakSet<readonly ClusterPod[]>();

export function markSortedPods<T extends readonly ClusterPod[]>(pods: T): T {
  sortedPodLists.add(pods);
  return pods;
}

export function isSortedPods(pods: readonly ClusterPod[]): boolean {
  return sortedPodLists.has(pods);
}

/**
 * `${pod.namespace}/${pod.name}` compared with `key` as strings compare (UTF-16 code units),
 * without building the string: binary searches over 50k pods built ~16 strings per lookup,
 * several lookups per one-pod change (0.4-0.7 ms of garbage per change at 50k pods).
 */
export function comparePodKey(pod: Pick<ClusterPod, 'namespace' | 'name'>, key: string): number {
  const ns = pod.namespace;
  const name = pod.name;
  const length = ns.length + 1 + name.length;
  const common = Math.min(length, key.length);
  for (let i = 0; i < common; i++) {
    const c = i < ns.length ? ns.charCodeAt(i) : i === ns.length ? 0x2f : name.charCodeAt(i - ns.length - 1);
    const d = key.charCodeAt(i);
    if (c !== d) return c - d;
  }
  return length - key.length;
}

function sortPods(byKey: ReadonlyMap<string, ClusterPod>): ClusterPod[] {
  const byNamespace = new Map<string, ClusterPod[]>();
  for (const pod of byKey.values()) {
    const list = byNamespace.get(pod.namespace);
    if (list) list.push(pod);
    else byNamespace.set(pod.namespace, [pod]);
  }
  if ([...byNamespace.keys()].some((ns) => ns.includes('/'))) {
    // The map's keys are the pods' podKey: sort by them rather than rebuilding keys per comparison.
    return [...byKey.entries()].sort((a, b) => cmp(a[0], b[0])).map((e) => e[1]);
  }
  const namespaces = [...byNamespace.keys()].map((ns) => ({ ns, prefix: `${ns}/` }));
  namespaces.sort((a, b) => cmp(a.prefix, b.prefix));
  const sorted: ClusterPod[] = [];
  for (const { ns } of namespaces) {
    const list = byNamespace.get(ns)!;
    list.sort((a, b) => cmp(a.name, b.name));
    for (const pod of list) sorted.push(pod);
  }
  return sorted;
}

export function buildCluster(inputs: Inputs): { cluster: Cluster; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const namespaces = new Map<string, ClusterNamespace>();
  for (const src of inputs.namespaces) {
    const name = src.object.metadata?.name;
    if (typeof name !== 'string') continue;
    if (namespaces.has(name)) diagnostics.push(diagnostic('PC2013', `namespace ${name} appears twice; the later one wins`, fieldSpan(src, ['metadata', 'name'])));
    const labels = { ...stringLabels(src.object.metadata?.labels), [NAMESPACE_NAME_LABEL]: name };
    namespaces.set(name, { name, labels, span: fieldSpan(src, []) });
  }
  const pods = new Map<string, ClusterPod>();
  for (const src of inputs.pods) {
    const meta = src.object.metadata ?? {};
    if (typeof meta.name !== 'string') continue;
    const namespace = typeof meta.namespace === 'string' ? meta.namespace : 'default';
    if (src.object.spec?.hostNetwork) continue; // host-network pods are not policy endpoints
    const key = `${namespace}/${meta.name}`;
    const status = src.object.status ?? {};
    const ips: string[] = [];
    for (const entry of status.podIPs ?? []) if (entry && typeof entry.ip === 'string' && !ips.includes(entry.ip)) ips.push(entry.ip);
    if (typeof status.podIP === 'string' && !ips.includes(status.podIP)) ips.push(status.podIP);
    const ports: NamedPort[] = [];
    for (const c of src.object.spec?.containers ?? []) {
      for (const p of c?.ports ?? []) {
        if (p && typeof p.name === 'string' && typeof p.containerPort === 'number') ports.push({ name: p.name, port: p.containerPort, protocol: asProtocol(p.protocol) });
      }
    }
    const size = pods.size;
    pods.set(key, { namespace, name: meta.name, labels: stringLabels(meta.labels), ips, node: src.object.spec?.nodeName, ports, span: objectSpan(src) });
    if (pods.size === size) diagnostics.push(diagnostic('PC2013', `pod ${key} appears twice; the later one wins`, fieldSpan(src, ['metadata', 'name'])));
    if (!namespaces.has(namespace)) namespaces.set(namespace, { name: namespace, labels: { [NAMESPACE_NAME_LABEL]: namespace } });
  }
  const nodes: ClusterNode[] = [];
  for (const src of inputs.nodes) {
    const name = src.object.metadata?.name;
    if (typeof name !== 'string') continue;
    const ips = (src.object.status?.addresses ?? []).filter((a) => a && (a.type === 'InternalIP' || a.type === 'ExternalIP')).map((a) => a.address);
    const podCIDRs = src.object.spec?.podCIDRs ?? (src.object.spec?.podCIDR ? [src.object.spec.podCIDR] : []);
    nodes.push({ name, labels: stringLabels(src.object.metadata?.labels), ips, podCIDRs });
  }
  const sortedPods = markSortedPods(sortPods(pods));
  nodes.sort((a, b) => (a.name < b.name ? -1 : 1));
  return { cluster: { namespaces, pods: sortedPods, nodes }, diagnostics };
}
