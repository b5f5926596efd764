// The 48 upstream Kubernetes e2e NetworkPolicy truth tables, judged by the reference evaluator.

import { describe, expect, it } from 'vitest';
import { compileSources } from '../compile.js';
import { formatMatrix, loadCases, POD_ORDER } from '../../testkit/conformance.js';
import { Evaluator } from './evaluator.js';
import { computeReach } from './reach.js';

const cases = loadCases();

describe('upstream conformance truth tables (reference evaluator)', () => {
  it('has all 48 cases and 65 probes', () => {
    expect(cases).toHaveLength(48);
    expect(cases.reduce((n, c) => n + c.steps.reduce((m, s) => m + s.probes.length, 0), 0)).toBe(65);
  });

  for (const c of cases) {
    it(`${c.file}: ${c.name}`, () => {
      c.steps.forEach((step, stepIndex) => {
        const compilation = compileSources([
          { name: `${c.file}#step${stepIndex}/policies.yaml`, text: step.policies },
          { name: `${c.file}#step${stepIndex}/snapshot.yaml`, text: step.snapshot },
        ]);
        expect(compilation.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
        const evaluator = new Evaluator(compilation.program!, compilation.cluster);
        for (const probe of step.probes) {
          const reach = computeReach(evaluator, probe.port, probe.protocol);
          expect(reach.pods).toEqual(POD_ORDER);
          const got = reach.allowed.map((row, i) => row.map((cell, j) => (c.ignoreLoopback && i === j ? probe.expect[i][j] : cell)));
          const label = `step ${stepIndex} port ${probe.port}/${probe.protocol}`;
          expect(`${label}\n${formatMatrix(reach.pods, got)}`).toBe(`${label}\n${formatMatrix(reach.pods, probe.expect)}`);
        }
      });
    });
  }
});
