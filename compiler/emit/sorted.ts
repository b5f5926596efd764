// Binary search over sorted arrays: the one loop behind every "where does this go / is it
// there" question of compiler/emit (identities by id, decision and pair rows, id lists,
// address elements).

/**
 * The first index in [from, to) at which `before(i)` is false, for a `before` that holds on a
 * prefix of the range and on nothing after it (Rust's partition_point); `to` when it always holds.
 */
export function partitionPoint(from: number, to: number, before: (i: number) => boolean): number {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (before(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
