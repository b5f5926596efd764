// The statistics of bench/dataplane-throughput.ts that are not a plain median: quartiles of
// per-round ratios, and the paired (ABBA) comparison of two configurations.
//
// Paired blocks: two configurations compared directly, in one block per round of four
// back-to-back runs, A B B A (B A A B on odd rounds, so neither is always first). The block's
// ratio is (B1 + B2) / (A1 + A2): a load that drifts linearly over the block's few seconds hits
// both sums alike and cancels, and no third configuration's run sits between them (the
// bracketed ratios to `none` divide two figures that each carry the noise of their own brackets).
import { median } from './table.js';

/** Quantile by linear interpolation between order statistics (q in [0, 1]). */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) throw new Error('quantile of nothing');
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export interface Spread {
  readonly median: number;
  readonly q1: number;
  readonly q3: number;
  readonly min: number;
  readonly max: number;
}

export function spread(xs: readonly number[]): Spread {
  return { median: median(xs), q1: quantile(xs, 0.25), q3: quantile(xs, 0.75), min: Math.min(...xs), max: Math.max(...xs) };
}

/** `median (IQR q1-q3, range min-max)`, ratios to 3 decimals. */
export function describeSpread(s: Spread): string {
  return `${s.median.toFixed(3)} (IQR ${s.q1.toFixed(3)}-${s.q3.toFixed(3)}, range ${s.min.toFixed(3)}-${s.max.toFixed(3)})`;
}

/** The order of one paired block: A B B A on even rounds, B A A B on odd ones. */
export function abbaOrder<T>(round: number, a: T, b: T): [T, T, T, T] {
  return round % 2 === 0 ? [a, b, b, a] : [b, a, a, b];
}

/** B / A of one block measured in abbaOrder: (B1 + B2) / (A1 + A2). */
export function pairedRatio<T>(order: readonly T[], values: readonly number[], a: T, b: T): number {
  let sa = 0;
  let sb = 0;
  order.forEach((c, i) => {
    if (c === a) sa += values[i]!;
    else if (c === b) sb += values[i]!;
  });
  return sb / sa;
}
