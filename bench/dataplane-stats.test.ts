import { describe, expect, it } from 'vitest';
import { abbaOrder, pairedRatio, quantile, spread } from './dataplane-stats.js';

describe('dataplane bench statistics', () => {
  it('quantiles interpolate between order statistics', () => {
    expect(quantile([4, 1, 3, 2], 0)).toBe(1);
    expect(quantile([4, 1, 3, 2], 1)).toBe(4);
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 5], 0.25)).toBe(2);
    expect(spread([5, 1, 4, 2, 3])).toEqual({ median: 3, q1: 2, q3: 4, min: 1, max: 5 });
  });

  it('paired blocks alternate A B B A / B A A B and cancel a linear drift', () => {
    expect(abbaOrder(0, 'a', 'b')).toEqual(['a', 'b', 'b', 'a']);
    expect(abbaOrder(1, 'a', 'b')).toEqual(['b', 'a', 'a', 'b']);
    // B is 0.9 of A; the machine loses 10% per run: the drift cancels exactly
    for (const round of [0, 1]) {
      const order = abbaOrder(round, 'a', 'b');
      const values = order.map((c, i) => (c === 'a' ? 100 : 90) * (1 - 0.1 * i));
      expect(pairedRatio(order, values, 'a', 'b')).toBeCloseTo(0.9, 12);
    }
  });
});
