// One pod's labels change: how long until we know which set elements change, and how many.
//   method "emit":  compiler/emit/membership.ts computeMembership(program, changed cluster,
//                   previous) + membershipDiff(old, new): what the node daemon would do.
//   method "bench": bench/membership.ts: the changed pod re-tested against every group, one
//                   set element per pod address per group joined or left.
// Two changes: app+tier (labels policies select) and pod-template-hash (no policy selects it).

import type { Cluster, ClusterPod } from '../compiler/model/cluster.js';
import type { Program } from '../compiler/ir/types.js';
import { compileSources } from '../compiler/compile.js';
import { computeMembership, podLabelChange } from './membership.js';
import { optionalImport } from './optional-import.js';
import { readSources } from './task-compile.js';
import { median } from './table.js';

type Labels = Record<string, string>;

function withPodLabels(cluster: Cluster, pod: ClusterPod, labels: Labels): Cluster {
  return { ...cluster, pods: cluster.pods.map((p) => (p === pod ? { ...p, labels } : p)) };
}

function scenarios(cluster: Cluster): Array<{ name: string; pod: ClusterPod; labels: Labels }> {
  const pod = cluster.pods[Math.floor(cluster.pods.length / 2)];
  const sameNs = cluster.pods.filter((p) => p.namespace === pod.namespace && p.labels.app !== pod.labels.app);
  const other = sameNs.find((p) => p.labels.tier !== pod.labels.tier) ?? sameNs[0] ?? pod;
  return [
    { name: 'app+tier', pod, labels: { ...pod.labels, app: other.labels.app, tier: other.labels.tier } },
    { name: 'pod-template-hash', pod, labels: { ...pod.labels, 'pod-template-hash': 'zzzzzzzzzz' } },
  ];
}

type Fn = (...args: unknown[]) => unknown;

export async function labelChange(paths: readonly string[], method: 'emit' | 'bench'): Promise<Record<string, number | string>> {
  const compilation = compileSources(readSources(paths));
  const program: Program = compilation.program!;
  const cluster = compilation.cluster;
  const out: Record<string, number | string> = { groups: program.groups.length };
  const emit = method === 'emit' ? await optionalImport('../compiler/emit/membership.js') : undefined;
  if (method === 'emit') {
    if (typeof emit?.computeMembership !== 'function' || typeof emit?.membershipDiff !== 'function') return { method: 'compiler/emit/membership.ts not there yet' };
    const compute = emit.computeMembership as Fn;
    const diff = emit.membershipDiff as Fn;
    const size = typeof emit.diffSize === 'function' ? (emit.diffSize as (d: unknown) => number) : countElements;
    out.method = 'emit/membership: computeMembership(changed, previous) + membershipDiff';
    let t = performance.now();
    const before = compute(program, cluster);
    out.fullComputeMs = performance.now() - t;
    for (const s of scenarios(cluster)) {
      const changed = withPodLabels(cluster, s.pod, s.labels);
      t = performance.now();
      const d = diff(before, compute(program, changed, before));
      out[`${s.name}: ms`] = performance.now() - t;
      out[`${s.name}: elements touched`] = size(d);
    }
    return out;
  }
  out.method = 'bench/membership.ts: the changed pod vs every group';
  let t = performance.now();
  const full = computeMembership(program, cluster);
  out.fullComputeMs = performance.now() - t;
  out.fullElements = [...full.values()].reduce((n, s) => n + s.size, 0);
  for (const s of scenarios(cluster)) {
    const times: number[] = [];
    let change = podLabelChange(program, cluster, s.pod, s.labels);
    for (let i = 0; i < 20; i++) {
      t = performance.now();
      change = podLabelChange(program, cluster, s.pod, s.labels);
      times.push(performance.now() - t);
    }
    out[`${s.name}: ms (median of 20)`] = median(times);
    out[`${s.name}: groups joined/left`] = change.joined.length + change.left.length;
    out[`${s.name}: elements touched`] = change.elements;
  }
  return out;
}

/** Elements in a diff of unknown shape: the sum of the lengths/sizes of its arrays, sets and maps. */
function countElements(d: unknown, depth = 0): number {
  if (d === null || typeof d !== 'object' || depth > 4) return 0;
  if (Array.isArray(d)) return d.length;
  if (d instanceof Set || d instanceof Map) return d.size;
  return Object.values(d).reduce((n: number, v) => n + countElements(v, depth + 1), 0);
}
