// Writes a generated cluster to a temp dir in the forms the bench reads:
//   cluster.yaml / cluster.json    `kubectl get namespaces,nodes,pods -A -o yaml|json` (a List)
//   policies.yaml / policies.json  `kubectl get networkpolicies,adminnetworkpolicies,baselineadminnetworkpolicies -A -o yaml|json`
//   policies-docs.yaml             the same objects as one `---`-separated file, as kept in git

import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCluster, type GenerateOptions } from './generate-cluster.js';
import { kubeList, toKubectlJson, toKubectlYaml } from './kube-yaml.js';

export interface InputFiles {
  dir: string;
  clusterYaml: string;
  clusterJson: string;
  policiesYaml: string;
  policiesJson: string;
  policiesDocsYaml: string;
  counts: { namespaces: number; nodes: number; pods: number; networkPolicies: number; adminPolicies: number };
  bytes: Record<string, number>;
}

export function writeInputs(options: GenerateOptions): InputFiles {
  const g = generateCluster(options);
  const dir = join(tmpdir(), `policyc-bench-${options.pods}p-${options.policies}np-s${options.seed ?? 42}`);
  mkdirSync(dir, { recursive: true });
  const clusterItems = [...g.namespaces, ...g.nodes, ...g.pods];
  const policyItems = [...g.networkPolicies, ...g.adminPolicies, g.baselinePolicy];
  const texts: Record<string, string> = {
    'cluster.yaml': toKubectlYaml(kubeList(clusterItems)),
    'cluster.json': toKubectlJson(kubeList(clusterItems)),
    'policies.yaml': toKubectlYaml(kubeList(policyItems)),
    'policies.json': toKubectlJson(kubeList(policyItems)),
    'policies-docs.yaml': policyItems.map((p) => toKubectlYaml(p)).join('---\n'),
  };
  const bytes: Record<string, number> = {};
  for (const [name, text] of Object.entries(texts)) {
    writeFileSync(join(dir, name), text);
    bytes[name] = Buffer.byteLength(text);
  }
  return {
    dir,
    clusterYaml: join(dir, 'cluster.yaml'),
    clusterJson: join(dir, 'cluster.json'),
    policiesYaml: join(dir, 'policies.yaml'),
    policiesJson: join(dir, 'policies.json'),
    policiesDocsYaml: join(dir, 'policies-docs.yaml'),
    counts: { namespaces: g.namespaces.length, nodes: g.nodes.length, pods: g.pods.length, networkPolicies: g.networkPolicies.length, adminPolicies: g.adminPolicies.length + 1 },
    bytes,
  };
}
