// A ReadonlyMap that is another map plus a few changes, for the maps a one-pod update derives
// (identity key -> number, identity number -> identity, profile key -> profile): lookups cost
// the changes' map and the base map, and the whole map is only built (by `build`, in the order a
// fresh computation gives; without one, the base's order with new keys after it) when someone
// iterates it. Derived again, the changes accumulate over the same base, up to MAX_CHANGES;
// then the base is built and the changes start over.

const MAX_CHANGES = 256;

export class OverlayMap<K, V> implements ReadonlyMap<K, V> {
  private built?: Map<K, V>;

  private constructor(
    private readonly base: ReadonlyMap<K, V>,
    /** Changed keys; undefined = deleted. */
    private readonly changes: ReadonlyMap<K, V | undefined>,
    private readonly build: (() => Map<K, V>) | undefined,
    readonly size: number,
  ) {}

  /**
   * `from` with `changes` applied (undefined deletes a key); `build` gives the whole result when
   * it is iterated (default: the base map with the changes applied in place, new keys last).
   * Values are never undefined.
   */
  static derive<K, V>(from: ReadonlyMap<K, V>, changes: ReadonlyMap<K, V | undefined>, build?: () => Map<K, V>): ReadonlyMap<K, V> {
    let size = from.size;
    for (const [k, v] of changes) {
      const had = from.has(k);
      if (v === undefined && had) size--;
      else if (v !== undefined && !had) size++;
    }
    if (from instanceof OverlayMap && !from.built && from.changes.size + changes.size <= MAX_CHANGES) {
      const merged = new Map(from.changes);
      for (const [k, v] of changes) merged.set(k, v);
      return new OverlayMap(from.base, merged, build, size);
    }
    const base = from instanceof OverlayMap ? from.materialized() : from;
    return new OverlayMap(base, changes, build, size);
  }

  get(key: K): V | undefined {
    if (this.built) return this.built.get(key);
    return this.changes.has(key) ? this.changes.get(key) : this.base.get(key);
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  private materialized(): Map<K, V> {
    return (this.built ??= this.build ? this.build() : this.applied());
  }

  /** The base with the changes applied (base order; new keys after it, in change order). */
  private applied(): Map<K, V> {
    const out = new Map(this.base);
    for (const [k, v] of this.changes) {
      if (v === undefined) out.delete(k);
      else out.set(k, v);
    }
    return out;
  }

  forEach(callback: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.materialized()) callback.call(thisArg, v, k, this);
  }

  entries(): MapIterator<[K, V]> {
    return this.materialized().entries();
  }

  keys(): MapIterator<K> {
    return this.materialized().keys();
  }

  values(): MapIterator<V> {
    return this.materialized().values();
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.materialized()[Symbol.iterator]();
  }
}
