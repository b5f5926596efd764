// The one-pod path must give exactly what the full computation gives: random relabels on a
// synthetic cluster (bench/generate-cluster.ts), each checked against computeMembership.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../bench/prng.js';
import { computeMembership, decisionElementKey, identityElementKey, type Membership } from '../../compiler/emit/membership.js';
import type { Cluster, ClusterPod } from '../../compiler/model/cluster.js';
import { compileGenerated } from '../../testkit/generated.js';
import { relabelPod, updatePods } from './incremental.js';

function fingerprint(m: Membership) {
  return {
    identity: m.identityElements.map((e) => `${identityElementKey(e)}=${e.identity}`).sort(),
    decisions: m.decisionElements.map((e) => `${decisionElementKey(e)}=${e.rule.cookie}`).sort(),
    isolated: m.isolated,
    // what the kernel holds, numbers included: the incremental layout must number profiles as a fresh one does
    pairs: m.layout.pairs.map((p) => `${p.direction}/${p.subject}/${p.peer}=${p.profile}`),
    ports: m.layout.ports.map((p) => `${p.direction}/${p.profile}/${p.protoFrom}-${p.protoTo}/${p.portFrom}-${p.portTo}=${p.rule.cookie}`),
  };
}

describe('relabelPod', () => {
  it('agrees with computeMembership on 60 random one-pod label changes', () => {
    const c = compileGenerated(300, 30, 7);
    const program = c.program;
    let cluster: Cluster = c.cluster;
    let m = computeMembership(program, cluster);
    const rng = new Rng(11);
    let fast = 0;
    let fallbacks = 0;
    for (let i = 0; i < 60; i++) {
      const idx = rng.int(0, cluster.pods.length - 1);
      const pod = cluster.pods[idx];
      const donor = rng.pick(cluster.pods.filter((p) => p.namespace === pod.namespace));
      // labels of another pod (often an existing identity), sometimes plus a label nobody reads
      const labels = { ...donor.labels, ...(rng.chance(0.3) ? { 'pod-template-hash': `h${i}` } : {}) };
      const next: ClusterPod = { ...pod, labels };
      const pods = cluster.pods.slice();
      pods[idx] = next;
      cluster = { ...cluster, pods };
      const full = computeMembership(program, cluster, m);
      const r = relabelPod(program, cluster, m, next);
      if ('fallback' in r) {
        fallbacks++;
        m = full;
        continue;
      }
      fast++;
      expect(fingerprint(r.membership)).toEqual(fingerprint(full));
      expect(r.diff.identity.add.length).toBe(r.diff.identity.delete.length);
      expect(r.diff.identity.add.length).toBeLessThanOrEqual(pod.ips.length);
      m = r.membership;
    }
    expect(fast).toBeGreaterThan(20);
    expect(fallbacks).toBeGreaterThan(0);
  });

  it('updatePods: pods that appear and vanish on a node-local table (new local pods named in the scope) agree with computeMembership', () => {
    const c = compileGenerated(300, 30, 9);
    const program = c.program;
    let cluster: Cluster = c.cluster;
    const node = cluster.pods[0].node!;
    const localOf = (cl: Cluster) => new Set(cl.pods.filter((p) => p.node === node).map((p) => `${p.namespace}/${p.name}`));
    let m = computeMembership(program, cluster, undefined, { localPods: localOf(cluster) });
    const rng = new Rng(5);
    const taken = new Set(cluster.pods.flatMap((p) => p.ips));
    let carved = 0;
    let freed = 0;
    for (let i = 0; i < 40; i++) {
      const name = (p: ClusterPod) => `${p.namespace}/${p.name}`;
      let changed: string;
      if (rng.chance(0.5)) {
        // CNI ADD: a copy of a random pod (labels, namespace, node) at a new address
        const donor = rng.pick(cluster.pods);
        let ip: string;
        do ip = `10.${rng.int(200, 250)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
        while (taken.has(ip));
        taken.add(ip);
        const added: ClusterPod = { ...donor, name: `added-${i}`, labels: rng.chance(0.3) ? { ...donor.labels, app: `fresh-${i}` } : donor.labels, ips: [ip], node: rng.chance(0.5) ? node : donor.node };
        cluster = { ...cluster, pods: [...cluster.pods, added].sort((a, b) => (name(a) < name(b) ? -1 : 1)) };
        changed = name(added);
      } else {
        const gone = rng.pick(cluster.pods);
        cluster = { ...cluster, pods: cluster.pods.filter((p) => p !== gone) };
        changed = name(gone);
      }
      const scope = { localPods: localOf(cluster) };
      const full = computeMembership(program, cluster, m, scope);
      const u = updatePods(program, cluster, m, [changed], scope);
      expect(fingerprint(u.membership)).toEqual(fingerprint(full));
      expect(u.reason).toBeDefined();
      if (u.reason!.includes('carved out of the world, 0 given back')) carved++;
      if (u.reason!.includes('carved out of the world, 1 given back')) freed++;
      m = u.membership;
    }
    expect(carved).toBeGreaterThan(5);
    expect(freed).toBeGreaterThan(5);
  });
});
