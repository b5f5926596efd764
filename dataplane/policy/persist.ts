// The engine's state files under <stateDir>/policy/, each replaced atomically (write temp +
// rename, dataplane/daemon/atomic-file.ts) so a kill -9 leaves the old or the new file:
//   last-good.json      the last artifact the kernel accepted (all its files), when, from where,
//                       and the fingerprint of the rules as the kernel listed them
//   cluster-state.json  the pushed namespaces/pods/nodes and the identity numbers in use;
//                       written by the reconcile worker thread from its replica of the state
//                       when it has one (cluster-persist.ts), else here on the event loop
// A file that does not parse, or has another formatVersion, is reported and ignored (the engine
// then starts without it: the next whole-state push and the kernel resync make up for it).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir, writeFileAtomic, writeFileAtomicSync } from '../daemon/atomic-file.js';
import type { PersistedClusterState } from './cluster-state.js';

export interface LastGood {
  formatVersion: 1;
  artifactHash: string;
  files: Record<string, string>;
  appliedAt: string;
  source: string;
  rulesFingerprint?: string;
  /** hash of the newest artifact taken from the artifacts directory (not re-applied on restart) */
  dirHash?: string;
}

export interface PersistedCluster {
  formatVersion: 1;
  state: PersistedClusterState;
  /** identity key -> number in use, so a restart keeps identity numbers */
  assignment: Array<[string, number]>;
}

export const CLUSTER_FILE = 'cluster-state.json';

/** Serializes and replaces <dir>/cluster-state.json (synchronous: also run by the worker thread, reconcile-thread.ts); returns its length. */
export function writeClusterFile(dir: string, v: PersistedCluster): number {
  const text = JSON.stringify(v);
  writeFileAtomicSync(join(dir, CLUSTER_FILE), text);
  return text.length;
}

export class PolicyStore {
  readonly dir: string;

  private constructor(stateDir: string) {
    this.dir = join(stateDir, 'policy');
  }

  static async open(stateDir: string): Promise<PolicyStore> {
    const s = new PolicyStore(stateDir);
    await ensureDir(s.dir);
    return s;
  }

  private read<T>(name: string): { value?: T; error?: string } {
    let text: string;
    try {
      text = readFileSync(join(this.dir, name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      return { error: `${name}: ${(err as Error).message}` };
    }
    try {
      const value = JSON.parse(text) as T & { formatVersion?: number };
      if (value?.formatVersion !== 1) return { error: `${name}: unknown format` };
      return { value };
    } catch (err) {
      return { error: `${name} is not JSON: ${(err as Error).message}` };
    }
  }

  readLastGood(): { value?: LastGood; error?: string } {
    return this.read<LastGood>('last-good.json');
  }

  readCluster(): { value?: PersistedCluster; error?: string } {
    return this.read<PersistedCluster>(CLUSTER_FILE);
  }

  async writeLastGood(v: LastGood): Promise<void> {
    await writeFileAtomic(join(this.dir, 'last-good.json'), JSON.stringify(v));
  }

  /** Writes cluster-state.json on the calling thread; returns its length. */
  writeClusterSync(v: PersistedCluster): number {
    return writeClusterFile(this.dir, v);
  }
}
