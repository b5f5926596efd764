// LayeredMap and OverlayMap (the maps updateMembership derives instead of copying) against a
// plain Map under random chains of changes, every version checked again at the end (deriving
// never changes an earlier version).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LayeredMap } from './layered-map.js';
import { OverlayMap } from './overlay-map.js';

const changesArb = fc.array(fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.option(fc.integer({ min: 1, max: 9 }), { nil: undefined })), { maxLength: 30 }), { minLength: 1, maxLength: 40 });

function reference(start: ReadonlyMap<number, number>, steps: ReadonlyArray<ReadonlyArray<[number, number | undefined]>>): Array<Map<number, number>> {
  const out: Array<Map<number, number>> = [];
  let cur = new Map(start);
  for (const step of steps) {
    cur = new Map(cur);
    for (const [k, v] of step) {
      if (v === undefined) cur.delete(k);
      else cur.set(k, v);
    }
    out.push(cur);
  }
  return out;
}

describe('LayeredMap', () => {
  it('answers like a Map after any chain of changes, every version', () => {
    fc.assert(
      fc.property(changesArb, (steps) => {
        const start = new Map([[1, 1], [2, 2], [3, 3]]);
        const want = reference(start, steps);
        const versions: Array<LayeredMap<number, number>> = [];
        let cur = LayeredMap.of(new Map(start));
        for (const step of steps) versions.push((cur = cur.with(new Map(step))));
        versions.forEach((v, i) => {
          for (let k = 0; k <= 40; k++) expect(v.get(k)).toBe(want[i].get(k));
        });
      }),
      { numRuns: 100 },
    );
  });
});

describe('OverlayMap', () => {
  it('answers and iterates like the map it stands for, every version', () => {
    fc.assert(
      fc.property(changesArb, fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), (steps, iterateEarly) => {
        const start = new Map([[1, 1], [2, 2], [3, 3]]);
        const want = reference(start, steps);
        const versions: Array<ReadonlyMap<number, number>> = [];
        let cur: ReadonlyMap<number, number> = new Map(start);
        steps.forEach((step, i) => {
          const sorted = () => new Map([...want[i]].sort((a, b) => a[0] - b[0]));
          cur = OverlayMap.derive(cur, new Map(step), sorted);
          if (iterateEarly[i]) expect([...cur]).toEqual([...sorted()]);
          versions.push(cur);
        });
        versions.forEach((v, i) => {
          expect(v.size).toBe(want[i].size);
          for (let k = 0; k <= 40; k++) {
            expect(v.get(k)).toBe(want[i].get(k));
            expect(v.has(k)).toBe(want[i].has(k));
          }
          expect(new Map(v)).toEqual(want[i]);
        });
      }),
      { numRuns: 100 },
    );
  });
});
