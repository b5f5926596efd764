// Label keys and values seen in the workspace, for completion inside matchLabels and
// matchExpressions: pods, namespaces and nodes of the snapshot, plus the pod templates and
// namespaces of manifests (Deployments, StatefulSets, Jobs...).

import jsYaml from 'js-yaml';
import type { Cluster } from '../../compiler/model/cluster.js';

export type LabelSubject = 'pod' | 'namespace' | 'node';

export class LabelIndex {
  private readonly values: Record<LabelSubject, Map<string, Map<string, number>>> = { pod: new Map(), namespace: new Map(), node: new Map() };

  add(subject: LabelSubject, labels: unknown): void {
    if (!labels || typeof labels !== 'object' || Array.isArray(labels)) return;
    for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
      if (v === null || typeof v === 'object') continue;
      let byValue = this.values[subject].get(k);
      if (!byValue) this.values[subject].set(k, (byValue = new Map()));
      byValue.set(String(v), (byValue.get(String(v)) ?? 0) + 1);
    }
  }

  addCluster(cluster: Cluster): void {
    for (const p of cluster.pods) this.add('pod', p.labels);
    for (const n of cluster.namespaces.values()) this.add('namespace', n.labels);
    for (const n of cluster.nodes) this.add('node', n.labels);
  }

  /** Namespaces, pods and pod templates in manifest texts. Never throws. */
  addManifest(text: string): void {
    let docs: unknown[];
    try {
      docs = jsYaml.loadAll(text);
    } catch {
      return;
    }
    const visit = (obj: unknown, depth: number) => {
      if (!obj || typeof obj !== 'object' || depth > 3) return;
      const o = obj as Record<string, any>;
      if (Array.isArray(o.items)) for (const item of o.items) visit(item, depth + 1);
      if (o.kind === 'Namespace') this.add('namespace', { ...o.metadata?.labels, 'kubernetes.io/metadata.name': o.metadata?.name });
      else if (o.kind === 'Pod') this.add('pod', o.metadata?.labels);
      else if (o.kind === 'Node') this.add('node', o.metadata?.labels);
      else if (o.kind === 'CronJob') this.add('pod', o.spec?.jobTemplate?.spec?.template?.metadata?.labels);
      else if (o.spec?.template?.metadata) this.add('pod', o.spec.template.metadata.labels);
    };
    for (const d of docs) visit(d, 0);
  }

  keys(subject: LabelSubject): Array<{ key: string; count: number }> {
    return [...this.values[subject]].map(([key, vals]) => ({ key, count: [...vals.values()].reduce((a, b) => a + b, 0) })).sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1));
  }

  valuesOf(subject: LabelSubject, key: string): Array<{ value: string; count: number }> {
    return [...(this.values[subject].get(key) ?? [])].map(([value, count]) => ({ value, count })).sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : 1));
  }
}
