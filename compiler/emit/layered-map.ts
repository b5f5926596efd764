// A read-only map derived from another by a few changes, without copying it: each derivation
// adds a layer holding only the changed keys, and lookups walk the layers newest first. The
// incremental membership path (membership.ts updateMembership) derives its indexes this way, so
// a one-pod change costs its own keys, not the size of the cluster. Past MAX_DEPTH layers a
// derivation flattens into one map (a copy every MAX_DEPTH changes: amortized, and it lets the
// old layers go). The base map is never written to: every version stays valid.

const MAX_DEPTH = 16;

export class LayeredMap<K, V> {
  private constructor(
    private readonly own: ReadonlyMap<K, V | undefined>,
    private readonly parent: LayeredMap<K, V> | undefined,
    private readonly depth: number,
  ) {}

  /** A map with these entries (taken over as is: the caller must not change `entries` afterwards). */
  static of<K, V>(entries: ReadonlyMap<K, V>): LayeredMap<K, V> {
    return new LayeredMap<K, V>(entries, undefined, 0);
  }

  get(key: K): V | undefined {
    for (let l: LayeredMap<K, V> | undefined = this; l; l = l.parent) if (l.own.has(key)) return l.own.get(key);
    return undefined;
  }

  /** This map with `changes` applied (undefined deletes the key). */
  with(changes: ReadonlyMap<K, V | undefined>): LayeredMap<K, V> {
    if (changes.size === 0) return this;
    if (this.depth + 1 < MAX_DEPTH) return new LayeredMap(changes, this, this.depth + 1);
    const flat = new Map<K, V>();
    const layers: Array<ReadonlyMap<K, V | undefined>> = [changes];
    for (let l: LayeredMap<K, V> | undefined = this; l; l = l.parent) layers.push(l.own);
    for (let i = layers.length - 1; i >= 0; i--) {
      for (const [k, v] of layers[i]) {
        if (v === undefined) flat.delete(k);
        else flat.set(k, v);
      }
    }
    return new LayeredMap<K, V>(flat, undefined, 0);
  }
}
