// One pod's labels change, on the table a node loads (the busiest node's; decisions for its own
// pods only, compiler/emit/membership.ts scope): updateMembership + membershipDiff, what the node
// daemon runs for a cluster-state upsert, in milliseconds and set elements touched. Scenarios,
// each for a pod of another node and for a pod of this node:
//   existing identity   labels of a same-namespace pod with other app/tier labels
//   unread label        pod-template-hash (no selector reads it)
//   new identity        app=<never seen>
// and pods that appear or vanish (CNI ADD/DEL), each for a pod of another node and of this node:
//   pod added           a copy of the pod (same namespace, labels, node) at an unused address
//                       of its subnet (carved out of a world range); this node's gets its name
//                       into the local pods (the scope passed along, as the engine builds it)
//   pod removed         the pod gone (its address back to the world)
// Each is applied to the same starting membership 21 times: the first call (cold: the JIT and
// the indexes the one-pod path keeps are new) and the median wall and CPU time
// (process.cpuUsage: less disturbed by other load on shared cores) are reported. Every result is
// checked against a fresh scoped computeMembership (element for element) once.

import type { Cluster, ClusterPod } from '../compiler/model/cluster.js';
import { compileSources } from '../compiler/compile.js';
import { computeMembership, diffSize, membershipDiff, updateMembership, type Membership, type MembershipScope } from '../compiler/emit/membership.js';
import { readSources } from './task-compile.js';
import { median } from './table.js';

type Labels = Record<string, string>;

function withPodLabels(cluster: Cluster, pod: ClusterPod, labels: Labels): Cluster {
  return { ...cluster, pods: cluster.pods.map((p) => (p === pod ? { ...p, labels } : p)) };
}

/** An IPv4 address of the pod's /16 that no pod has (a world address between pod addresses). */
function unusedAddressNear(cluster: Cluster, pod: ClusterPod): string {
  const taken = new Set(cluster.pods.flatMap((p) => p.ips));
  const [a, b] = pod.ips[0].split('.');
  for (let i = 0; i < 65536; i++) {
    const ip = `${a}.${b}.${(i >> 8) & 255}.${i & 255}`;
    if (!taken.has(ip)) return ip;
  }
  throw new Error('no unused address');
}

const podName = (p: ClusterPod) => `${p.namespace}/${p.name}`;

/** The cluster with `pod` added (pods stay sorted by namespace/name). */
function withPod(cluster: Cluster, pod: ClusterPod): Cluster {
  return { ...cluster, pods: [...cluster.pods, pod].sort((x, y) => (podName(x) < podName(y) ? -1 : podName(x) > podName(y) ? 1 : 0)) };
}

function withoutPod(cluster: Cluster, pod: ClusterPod): Cluster {
  return { ...cluster, pods: cluster.pods.filter((p) => p !== pod) };
}

function digest(m: Membership): string {
  const pairs = m.layout.pairs.map((p) => `${p.direction}/${p.subject}/${p.peer}=${p.profile}`).join(';');
  const ports = m.layout.ports.map((p) => `${p.direction}/${p.profile}/${p.protoFrom}/${p.portFrom}-${p.portTo}=${p.rule.cookie}`).join(';');
  const ids = m.identityElements.map((e) => `${e.family}/${e.first}-${e.last}=${e.identity}`).join(';');
  const world = m.world.map((e) => `${e.family}/${e.first}-${e.last}=${e.identity}`).join(';');
  return `${pairs}|${ports}|${ids}|${world}|${m.isolated.egress.join()}|${m.isolated.ingress.join()}`;
}

export function labelChangeNode(paths: readonly string[]): Record<string, number | string> {
  const compilation = compileSources(readSources(paths));
  const program = compilation.program!;
  const cluster = compilation.cluster;
  const count = new Map<string, number>();
  for (const p of cluster.pods) if (p.node) count.set(p.node, (count.get(p.node) ?? 0) + 1);
  const [node] = [...count.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0];
  const localPods = new Set(cluster.pods.filter((p) => p.node === node).map((p) => `${p.namespace}/${p.name}`));
  const out: Record<string, number | string> = { node, localPods: localPods.size };
  let t = performance.now();
  const before = computeMembership(program, cluster, undefined, { localPods });
  out['full node-local computation ms'] = performance.now() - t;
  out['pair elements'] = before.layout.pairs.length;
  const local = cluster.pods.find((p) => localPods.has(`${p.namespace}/${p.name}`))!;
  const remote = cluster.pods[Math.floor(cluster.pods.length / 2)].node === node ? cluster.pods[0] : cluster.pods[Math.floor(cluster.pods.length / 2)];
  for (const [where, pod] of [['other node', remote], ['this node', local]] as const) {
    const other = cluster.pods.find((p) => p.namespace === pod.namespace && (p.labels.app !== pod.labels.app || p.labels.tier !== pod.labels.tier)) ?? pod;
    const scenarios: Array<[string, Labels]> = [
      ['existing identity', { ...pod.labels, app: other.labels.app ?? '', tier: other.labels.tier ?? '' }],
      ['unread label', { ...pod.labels, 'pod-template-hash': 'zzzzzzzzzz' }],
      ['new identity', { ...pod.labels, app: 'never-seen-app' }],
    ];
    const added: ClusterPod = { ...pod, name: `${pod.name}-added`, ips: [unusedAddressNear(cluster, pod)] };
    const runs: Array<[string, Cluster, string, MembershipScope]> = scenarios.map(([name, labels]) => [name, withPodLabels(cluster, pod, labels), podName(pod), { localPods }]);
    const localAfter = (names: ReadonlySet<string>) => (where === 'this node' ? { localPods: names } : { localPods });
    runs.push(['pod added', withPod(cluster, added), podName(added), localAfter(new Set([...localPods, podName(added)]))]);
    runs.push(['pod removed', withoutPod(cluster, pod), podName(pod), localAfter(new Set([...localPods].filter((n) => n !== podName(pod))))]);
    for (const [name, changed, key, scope] of runs) {
      const times: number[] = [];
      const cpu: number[] = [];
      let next = before;
      let touched = 0;
      for (let i = 0; i < 21; i++) {
        const c = process.cpuUsage();
        t = performance.now();
        next = updateMembership(before, program, changed, [key], scope);
        touched = diffSize(membershipDiff(before, next));
        times.push(performance.now() - t);
        const used = process.cpuUsage(c);
        cpu.push((used.user + used.system) / 1000);
      }
      const fresh = computeMembership(program, changed, before, scope);
      out[`${where}, ${name}: ms, first call`] = times[0];
      out[`${where}, ${name}: ms (median of 21)`] = median(times);
      out[`${where}, ${name}: CPU ms (median of 21)`] = median(cpu);
      out[`${where}, ${name}: elements touched`] = touched;
      out[`${where}, ${name}: equals a fresh computation`] = digest(next) === digest(fresh) ? 'yes' : 'NO';
      // the full computation the change used to take, in the same run
      if (name.startsWith('pod ')) {
        t = performance.now();
        computeMembership(program, changed, before, scope);
        out[`${where}, ${name}: computeMembership ms (same change)`] = performance.now() - t;
      }
    }
  }
  return out;
}
