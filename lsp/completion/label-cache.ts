// The label index for completion, rebuilt only when the cluster or a manifest changed.

import type { Cluster } from '../../compiler/model/cluster.js';
import type { Workspace } from '../workspace.js';
import { LabelIndex } from './labels.js';

export class LabelCache {
  private index: LabelIndex | undefined;
  private cluster: Cluster | undefined;
  private version = -1;

  constructor(private readonly workspace: Workspace) {}

  get(cluster: Cluster): LabelIndex {
    if (!this.index || this.cluster !== cluster || this.version !== this.workspace.labelsVersion) {
      const index = new LabelIndex();
      index.addCluster(cluster);
      for (const uri of this.workspace.labelSourceUris()) {
        if (this.workspace.roleOfUri(uri) !== 'manifest') continue;
        const text = this.workspace.text(uri);
        if (text !== undefined) index.addManifest(text);
      }
      this.index = index;
      this.cluster = cluster;
      this.version = this.workspace.labelsVersion;
    }
    return this.index;
  }
}
