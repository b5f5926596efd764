// Answers of the lints that depend only on one object (a policy as written, a lowered rule, a
// pod's rules) and the cluster, kept between runs. The language server lints after every
// keystroke; with this, only the objects of the edited file are linted again. Objects that
// did not change are the same objects from one compile to the next (the incremental
// compiler keeps them), so identity is the key. Everything is dropped when the cluster or
// the options change.

import type { Cluster } from '../model/cluster.js';

export class LintCache {
  private cluster: Cluster | undefined;
  private options = '';
  private tables = new Map<string, WeakMap<object, unknown>>();
  private keyed = new Map<string, Map<string, unknown>>();

  /** Drops everything unless the cluster and options are the ones of the last run. */
  begin(cluster: Cluster, options: unknown): void {
    const opts = JSON.stringify(options ?? {});
    if (cluster !== this.cluster || opts !== this.options) {
      this.cluster = cluster;
      this.options = opts;
      this.tables = new Map();
      this.keyed = new Map();
    }
  }

  /** `compute()` for `key`, once per object and lint. */
  memo<V>(lint: string, key: object, compute: () => V): V {
    let table = this.tables.get(lint);
    if (!table) this.tables.set(lint, (table = new WeakMap()));
    if (table.has(key)) return table.get(key) as V;
    const value = compute();
    table.set(key, value);
    return value;
  }

  /** `compute()` for a string key whose value must also match `signature`. */
  memoBy<V>(lint: string, key: string, signature: string, compute: () => V): V {
    let table = this.keyed.get(lint);
    if (!table) this.keyed.set(lint, (table = new Map()));
    const hit = table.get(key) as { signature: string; value: V } | undefined;
    if (hit && hit.signature === signature) return hit.value;
    const value = compute();
    table.set(key, { signature, value });
    return value;
  }
}

const ids = new WeakMap<object, number>();
let nextId = 1;

/** A number naming an object for as long as it lives: signatures of sets of objects. */
export function objectId(o: object): number {
  let id = ids.get(o);
  if (id === undefined) {
    id = nextId++;
    ids.set(o, id);
  }
  return id;
}
