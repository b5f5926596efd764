// The cluster as policies see it: namespaces with labels, pods with labels, IPs and named
// ports, nodes with labels and addresses. Built from a snapshot (`kubectl get -o yaml`).

import { diagnostic, type Diagnostic } from '../diagnostics/diagnostic.js';
import type { Span } from '../syntax/source.js';
import { parseIp, type IpAddress } from '../ir/cidr.js';
import type { Labels } from '../ir/selector.js';
import type { Protocol } from './k8s-types.js';
import { fieldSpan, type Inputs } from './inputs.js';

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
  const out: Record<string, string> = {};
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    for (const [k, v] of Object.entries(raw)) if (v !== null && v !== undefined) out[k] = String(v);
  }
  return out;
}

function asProtocol(p: unknown): Protocol {
  return p === 'UDP' || p === 'SCTP' ? p : 'TCP';
}

export function emptyCluster(): Cluster {
  return { namespaces: new Map(), pods: [], nodes: [] };
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
    if (pods.has(key)) diagnostics.push(diagnostic('PC2013', `pod ${key} appears twice; the later one wins`, fieldSpan(src, ['metadata', 'name'])));
    const status = src.object.status ?? {};
    const ips = new Set<string>();
    for (const entry of status.podIPs ?? []) if (entry && typeof entry.ip === 'string') ips.add(entry.ip);
    if (typeof status.podIP === 'string') ips.add(status.podIP);
    const ports: NamedPort[] = [];
    for (const c of src.object.spec?.containers ?? []) {
      for (const p of c?.ports ?? []) {
        if (p && typeof p.name === 'string' && typeof p.containerPort === 'number') ports.push({ name: p.name, port: p.containerPort, protocol: asProtocol(p.protocol) });
      }
    }
    pods.set(key, { namespace, name: meta.name, labels: stringLabels(meta.labels), ips: [...ips], node: src.object.spec?.nodeName, ports, span: fieldSpan(src, []) });
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
  // The map's keys are the pods' podKey: sort by them rather than rebuilding keys per comparison.
  const sortedPods = [...pods.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);
  nodes.sort((a, b) => (a.name < b.name ? -1 : 1));
  return { cluster: { namespaces, pods: sortedPods, nodes }, diagnostics };
}
