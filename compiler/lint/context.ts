// What every workspace lint reads: the compilation (policies as written and as lowered, the
// cluster snapshot) plus cached answers to "which pods does this selector pick". Pure: no IO.

import type { Compilation } from '../compile.js';
import { namespaceLabels, type Cluster, type ClusterNamespace, type ClusterPod } from '../model/cluster.js';
import { fieldSpan, type Sourced } from '../model/inputs.js';
import { fromLabelSelector, selectorKey, selectorMatches, type Selector } from '../ir/selector.js';
import type { Group, NamespaceMatch, Policy, Program } from '../ir/types.js';
import type { PathSegment } from '../syntax/documents.js';
import type { Span } from '../syntax/source.js';
import { LintCache } from './cache.js';

export interface LintOptions {
  /** Pod address ranges besides the nodes' podCIDRs (e.g. the cluster's --cluster-cidr). */
  podCIDRs?: readonly string[];
  /** Service address ranges (--service-cluster-ip-range). */
  serviceCIDRs?: readonly string[];
}

/** The part of a Compilation the lints read. */
export type LintInput = Pick<Compilation, 'inputs' | 'program' | 'cluster' | 'hasSnapshot'>;

export class LintContext {
  readonly program: Program;
  readonly cluster: Cluster;
  readonly groups: ReadonlyMap<string, Group>;
  /** Whether the snapshot lists pods / namespaces (selectors can then be judged against it). */
  readonly hasPods: boolean;
  readonly hasNamespaces: boolean;
  private readonly sourceBySpan = new Map<string, Sourced>();
  private readonly podCache: Map<string, ClusterPod[]>;
  private readonly nsCache: Map<string, ClusterNamespace[]>;

  constructor(
    readonly input: LintInput,
    readonly options: LintOptions = {},
    /** Kept by a caller that lints again and again (the language server); fresh otherwise. */
    readonly cache: LintCache = new LintCache(),
  ) {
    cache.begin(input.cluster, options);
    this.program = input.program ?? { formatVersion: 1, groups: [], policies: [], rules: [] };
    this.cluster = input.cluster;
    this.groups = new Map(this.program.groups.map((g) => [g.id, g]));
    this.hasPods = input.inputs.pods.length > 0;
    this.hasNamespaces = input.inputs.namespaces.length > 0;
    for (const src of input.inputs.policies) this.sourceBySpan.set(rootKey(src), src);
    const caches = cacheFor(input.cluster);
    this.podCache = caches.pods;
    this.nsCache = caches.namespaces;
  }

  /** The object a lowered policy was read from. */
  sourceOf(policy: Policy): Sourced | undefined {
    return this.sourceBySpan.get(spanKey(policy.span));
  }

  span(src: Sourced, path: readonly PathSegment[], keyOnly = false): Span {
    const span = fieldSpan(src, path, keyOnly);
    const length = src.doc.file.text.length;
    const start = Math.min(Math.max(span.start, 0), length);
    return { file: span.file, start, end: Math.min(Math.max(span.end, start), length) };
  }

  namespacesMatching(selector: Selector): ClusterNamespace[] {
    const key = selectorKey(selector);
    let hit = this.nsCache.get(key);
    if (!hit) {
      hit = [...this.cluster.namespaces.values()].filter((ns) => selectorMatches(selector, ns.labels));
      this.nsCache.set(key, hit);
    }
    return hit;
  }

  /** Pods of the snapshot in the namespaces `ns` picks whose labels `pods` matches. */
  podsMatching(ns: NamespaceMatch, pods: Selector): ClusterPod[] {
    const key = `${ns.kind === 'name' ? `n:${ns.name}` : `s:${selectorKey(ns.selector)}`}\u0003${selectorKey(pods)}`;
    let hit = this.podCache.get(key);
    if (!hit) {
      const inNamespace =
        ns.kind === 'name'
          ? (p: ClusterPod) => p.namespace === ns.name
          : (p: ClusterPod) => selectorMatches(ns.selector, namespaceLabels(this.cluster, p.namespace));
      hit = this.cluster.pods.filter((p) => inNamespace(p) && selectorMatches(pods, p.labels));
      this.podCache.set(key, hit);
    }
    return hit;
  }

  /** Group ids are hashes of their selectors, so the answer is cached by id. */
  podsOfGroup(groupId: string): ClusterPod[] {
    let hit = this.podCache.get(groupId);
    if (!hit) {
      const group = this.groups.get(groupId);
      hit = group ? this.podsMatching(group.namespaces, group.pods) : [];
      this.podCache.set(groupId, hit);
    }
    return hit;
  }
}

const clusterCaches = new WeakMap<Cluster, { pods: Map<string, ClusterPod[]>; namespaces: Map<string, ClusterNamespace[]> }>();

/** Answers depend only on the cluster, so they are kept as long as the cluster object lives. */
function cacheFor(cluster: Cluster) {
  let caches = clusterCaches.get(cluster);
  if (!caches) {
    caches = { pods: new Map(), namespaces: new Map() };
    clusterCaches.set(cluster, caches);
  }
  return caches;
}

function spanKey(span: Span): string {
  return `${span.file}\u0000${span.start}`;
}

const rootKeys = new WeakMap<Sourced, string>();

/** Where an object starts; cached, since the same Sourced objects come back compile after compile. */
function rootKey(src: Sourced): string {
  let key = rootKeys.get(src);
  if (key === undefined) {
    key = spanKey(fieldSpan(src, []));
    rootKeys.set(src, key);
  }
  return key;
}

/** A label selector as written (possibly malformed) -> canonical form; undefined when absent. */
export function selectorOf(raw: unknown): Selector | undefined {
  if (raw === null || raw === undefined || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  return fromLabelSelector(raw as never);
}

export function isObj(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function listOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** `a, b, c and 4 more`. */
export function sampleNames(names: readonly string[], max = 5): string {
  if (names.length <= max) return names.join(', ');
  return `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}
