// Node-local tables: decisions for the identities of the node's own pods only. They must be
// exactly the cluster-wide table's rows for those subjects, and the one-pod path must keep
// them equal to a fresh scoped computation.
import { describe, expect, it } from 'vitest';
import { generateCluster } from '../../bench/generate-cluster.js';
import { kubeList, toKubectlYaml } from '../../bench/kube-yaml.js';
import { Rng } from '../../bench/prng.js';
import { compileSources } from '../compile.js';
import type { Cluster } from '../model/cluster.js';
import { podIdentities } from './identities.js';
import { computeMembership, updateMembership, type Membership } from './membership.js';

function compileGenerated(pods: number, policies: number, seed: number) {
  const g = generateCluster({ pods, policies, seed });
  const c = compileSources([
    { name: 'cluster.yaml', text: toKubectlYaml(kubeList([...g.namespaces, ...g.nodes, ...g.pods])) },
    { name: 'policies.yaml', text: toKubectlYaml(kubeList([...g.networkPolicies, ...g.adminPolicies, g.baselinePolicy])) },
  ]);
  return { program: c.program!, cluster: c.cluster };
}

function localPodsOf(cluster: Cluster, node: string): Set<string> {
  return new Set(cluster.pods.filter((p) => p.node === node).map((p) => `${p.namespace}/${p.name}`));
}

function fingerprint(m: Membership) {
  return {
    identity: m.identityElements.map((e) => `${e.family}/${e.first}-${e.last}=${e.identity}`),
    decisions: m.decisionElements.map((e) => `${e.direction}/${e.subject}/${e.peer}/${e.protoFrom}-${e.protoTo}/${e.portFrom}-${e.portTo}=${e.rule.id}`),
    isolated: m.isolated,
    pairs: m.layout.pairs.map((p) => `${p.direction}/${p.subject}/${p.peer}=${p.profile}`),
    ports: m.layout.ports.map((p) => `${p.direction}/${p.profile}/${p.protoFrom}-${p.protoTo}/${p.portFrom}-${p.portTo}=${p.rule.id}`),
  };
}

describe('node-local membership', () => {
  const { program, cluster } = compileGenerated(400, 40, 3);
  const nodes = [...new Set(cluster.pods.map((p) => p.node).filter((n): n is string => !!n))].sort();

  it('has exactly the full table rows of the node pods identities', () => {
    expect(nodes.length).toBeGreaterThan(1);
    const full = computeMembership(program, cluster);
    let total = 0;
    for (const node of nodes) {
      const localPods = localPodsOf(cluster, node);
      const scoped = computeMembership(program, cluster, full, { localPods });
      const subjects = podIdentities(full.identities, localPods);
      expect(scoped.identityElements).toEqual(full.identityElements);
      const want = full.decisionElements.filter((e) => subjects.has(e.subject));
      expect(scoped.decisionElements.map((e) => `${e.direction}/${e.subject}/${e.peer}/${e.protoFrom}/${e.portFrom}-${e.portTo}=${e.rule.id}`)).toEqual(
        want.map((e) => `${e.direction}/${e.subject}/${e.peer}/${e.protoFrom}/${e.portFrom}-${e.portTo}=${e.rule.id}`),
      );
      for (const d of ['egress', 'ingress'] as const) expect(scoped.isolated[d]).toEqual(full.isolated[d].filter((s) => subjects.has(s)));
      expect(scoped.layout.pairs.length).toBeLessThan(full.layout.pairs.length);
      total += scoped.decisionElements.length;
    }
    // every subject with a pod lives on some node: the node tables together cover the full table's rows
    expect(total).toBeGreaterThanOrEqual(full.decisionElements.length);
  });

  it('one-pod label changes keep a node-local table equal to a fresh one', () => {
    const node = nodes[0];
    const localPods = localPodsOf(cluster, node);
    let current: Cluster = cluster;
    let m = computeMembership(program, current, undefined, { localPods });
    const rng = new Rng(5);
    for (let i = 0; i < 30; i++) {
      const idx = rng.int(0, current.pods.length - 1);
      const pod = current.pods[idx];
      const donor = rng.pick(current.pods.filter((p) => p.namespace === pod.namespace));
      const labels = i % 5 === 0 ? { ...donor.labels, app: `never-seen-${i}` } : { ...donor.labels };
      const pods = current.pods.slice();
      pods[idx] = { ...pod, labels };
      current = { ...current, pods };
      const next = updateMembership(m, program, current, [`${pod.namespace}/${pod.name}`]);
      const fresh = computeMembership(program, current, m, { localPods });
      expect(fingerprint(next)).toEqual(fingerprint(fresh));
      m = next;
    }
  });
});
