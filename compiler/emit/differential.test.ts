// The emitted nftables tables, read back through NftInterpreter, decide every flow exactly as
// the reference evaluator does: same verdict per side and the same deciding rule.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadCases } from '../../testkit/conformance.js';
import { Evaluator } from '../evaluate/evaluator.js';
import { emitNftables } from './nftables/ruleset.js';
import { NftInterpreter } from './nftables/interpret.js';
import { compareAll, compileText, randomCaseArb } from '../../testkit/emit.js';

const cases = loadCases();
const CONFORMANCE_PORTS = [0, 1, 53, 79, 80, 81, 82, 443, 8080, 65535];
const CONFORMANCE_EXTERNALS = ['10.244.1.99', '10.244.1.11', '10.244.3.1', '15.255.255.255', '16.0.0.0', '0.0.0.0', '8.8.8.8', '255.255.255.255', '2001:db8::1'];

describe('nftables tables vs reference evaluator: 48 conformance cases', () => {
  for (const c of cases) {
    it(`${c.file}`, () => {
      c.steps.forEach((step, i) => {
        const compilation = compileText(step.policies, step.snapshot);
        expect(compilation.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
        const program = compilation.program!;
        const emission = emitNftables(program, compilation.cluster);
        const interp = new NftInterpreter(emission.document);
        const evaluator = new Evaluator(program, compilation.cluster);
        const { checked, mismatches } = compareAll(interp, evaluator, CONFORMANCE_PORTS, CONFORMANCE_EXTERNALS);
        expect(checked).toBeGreaterThan(0);
        expect({ step: i, mismatches }).toEqual({ step: i, mismatches: [] });
        // The truth tables themselves, through the table: every probe cell.
        for (const probe of step.probes) {
          const pods = compilation.cluster.pods;
          pods.forEach((src, a) =>
            pods.forEach((dst, b) => {
              if (c.ignoreLoopback && a === b) return;
              const port = typeof probe.port === 'number' ? probe.port : dst.ports.find((p) => p.name === probe.port && p.protocol === probe.protocol)?.port;
              const proto = { TCP: 6, UDP: 17, SCTP: 132 }[probe.protocol];
              const got = port === undefined ? false : interp.packet(src.ips[0], dst.ips[0], proto, port).accepted;
              const want = probe.expect[a][b];
              if (got !== want) throw new Error(`step ${i} ${src.namespace}/${src.name} -> ${dst.namespace}/${dst.name} ${probe.port}/${probe.protocol}: table ${got}, truth table ${want}`);
            }),
          );
        }
      });
    });
  }
});

describe('nftables tables vs reference evaluator: random policy sets', () => {
  it('agree on every pod pair, external address, protocol and boundary port', () => {
    let nonTrivial = 0;
    fc.assert(
      fc.property(randomCaseArb, (rc) => {
        const compilation = compileText(rc.policies, rc.snapshot);
        const errors = compilation.diagnostics.filter((d) => d.severity === 'error');
        if (errors.length > 0) throw new Error(`generator produced invalid input: ${errors.map((e) => `${e.code} ${e.message}`).join('; ')}\n${rc.policies}`);
        const program = compilation.program!;
        const emission = emitNftables(program, compilation.cluster);
        if (emission.counts.decisionElements > 0) nonTrivial++;
        const interp = new NftInterpreter(emission.document);
        const evaluator = new Evaluator(program, compilation.cluster);
        const { mismatches } = compareAll(interp, evaluator, rc.ports, rc.externals);
        if (mismatches.length > 0) throw new Error(JSON.stringify(mismatches.slice(0, 5), null, 1));
      }),
      // More: PC_FC_RUNS=2000 npx vitest run compiler/emit/differential.test.ts -t random
      { numRuns: Number(process.env.PC_FC_RUNS ?? 150), seed: process.env.PC_FC_SEED ? Number(process.env.PC_FC_SEED) : undefined },
    );
    expect(nonTrivial).toBeGreaterThan(20);
  }, 60_000 + Number(process.env.PC_FC_RUNS ?? 150) * 1_000);
});
