// A generated cluster (bench/generate-cluster.ts) compiled as `policyc compile` reads it: the
// snapshot and the policies as kubectl-style YAML lists.
import { generateCluster } from '../bench/generate-cluster.js';
import { kubeList, toKubectlYaml } from '../bench/kube-yaml.js';
import { compileSources } from '../compiler/compile.js';
import type { Program } from '../compiler/ir/types.js';
import type { Cluster } from '../compiler/model/cluster.js';

export function compileGenerated(pods: number, policies: number, seed: number): { program: Program; cluster: Cluster } {
  const g = generateCluster({ pods, policies, seed });
  const c = compileSources([
    { name: 'cluster.yaml', text: toKubectlYaml(kubeList([...g.namespaces, ...g.nodes, ...g.pods])) },
    { name: 'policies.yaml', text: toKubectlYaml(kubeList([...g.networkPolicies, ...g.adminPolicies, g.baselinePolicy])) },
  ]);
  return { program: c.program!, cluster: c.cluster };
}

/** The `pick`-th node (mod their number, in name order) that runs pods of a generated cluster: a random node for property tests. */
export function generatedNode(cluster: Cluster, pick: number): string {
  const nodes = [...new Set(cluster.pods.map((p) => p.node).filter((n): n is string => !!n))].sort();
  return nodes[pick % nodes.length];
}
