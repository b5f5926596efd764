import { describe, expect, it } from 'vitest';
import jsYaml from 'js-yaml';
import { compileSources } from '../compiler/compile.js';
import { generateCluster } from './generate-cluster.js';
import { kubeList, toKubectlJson, toKubectlYaml } from './kube-yaml.js';

const tiny = { pods: 60, policies: 25, adminPolicies: 4, seed: 7 };

function texts(options = tiny) {
  const g = generateCluster(options);
  const cluster = kubeList([...g.namespaces, ...g.nodes, ...g.pods]);
  const policies = [...g.networkPolicies, ...g.adminPolicies, g.baselinePolicy];
  return {
    g,
    clusterYaml: toKubectlYaml(cluster),
    clusterJson: toKubectlJson(cluster),
    policiesYaml: toKubectlYaml(kubeList(policies)),
    policiesDocs: policies.map((p) => toKubectlYaml(p)).join('---\n'),
  };
}

describe('bench cluster generator', () => {
  it('is deterministic for a seed, and the seed matters', () => {
    const a = texts();
    const b = texts();
    expect(b.clusterYaml).toBe(a.clusterYaml);
    expect(b.policiesYaml).toBe(a.policiesYaml);
    expect(texts({ ...tiny, seed: 8 }).clusterYaml).not.toBe(a.clusterYaml);
    expect(a.g.pods).toHaveLength(60);
    expect(a.g.networkPolicies).toHaveLength(25);
  });

  it('prints YAML that reads back as the same objects as its JSON form', () => {
    const t = texts();
    expect(jsYaml.load(t.clusterYaml)).toEqual(JSON.parse(t.clusterJson));
    expect(t.clusterYaml).toMatch(/^apiVersion: v1\nitems:\n- apiVersion: v1\n {2}kind: Namespace\n/);
    expect(t.clusterYaml).toMatch(/\nkind: List\nmetadata:\n {2}resourceVersion: ""\n$/);
  });

  it('is accepted by compileSources without errors, as a List and as --- documents', () => {
    const t = texts();
    for (const [name, text] of [['policies.yaml', t.policiesYaml], ['policies-docs.yaml', t.policiesDocs]]) {
      const c = compileSources([{ name: 'cluster.yaml', text: t.clusterYaml }, { name, text }]);
      expect(c.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      expect(c.program?.policies).toHaveLength(25 + 4 + 1);
      expect(c.cluster.pods).toHaveLength(60);
    }
  });
});
