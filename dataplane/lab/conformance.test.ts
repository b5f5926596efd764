// All 48 upstream NetworkPolicy conformance cases on real packets: one lab (2 nodes, 9 pods,
// VXLAN between the nodes, pods wired by our CNI plugin) is brought up once; for each case and
// step the step's policies and cluster snapshot are applied (later steps as updates, removed
// policies deleted), each probe of the step is run with real TCP/UDP/SCTP packets, and the
// matrix must equal the truth table and `computeReach` on the same inputs. Each node daemon runs
// with --node-name: node-local tables (egress judged on the source's node, ingress on the
// destination's), checked through the daemons' status.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSources } from '../../compiler/compile.js';
import { Evaluator } from '../../compiler/evaluate/evaluator.js';
import { computeReach } from '../../compiler/evaluate/reach.js';
import { missingRequirements } from '../../cni/testing/requirements.js';
import { guardSuite, requirementFrom } from '../../testkit/requirements.js';
import { formatMatrix, loadCases, POD_ORDER, snapshotYaml } from '../../testkit/conformance.js';
import { daemonRequest } from './daemon-client.js';
import { labApply, labDelete, labDown, labProbe, labUp } from './lab.js';
import { objectsOf, policyKeyOf } from './objects.js';
import { DELIVERY } from './policy-delivery.js';
import { loadState } from './state.js';

const kernel = guardSuite('lab conformance (real packets)', requirementFrom(missingRequirements({ tools: ['nft', 'bridge', 'sysctl'] }), 'install it, see cni/README.md'));
const LAB = `c${randomBytes(3).toString('hex')}`;
const cases = loadCases();

const stats = { cases: 0, casesPassed: 0, probes: 0, probesPassed: 0, probeMs: 0, applyMs: 0, upMs: 0, startedAt: 0 };

/** Each node daemon (`--node-name`) holds a node-local table: decision rows for its own pods only. */
async function expectNodeLocalTables(): Promise<void> {
  if (DELIVERY !== 'daemon') return;
  const state = loadState(LAB);
  for (const n of state.nodes) {
    const status = (await daemonRequest(n.socket, { type: 'status' })) as { counts: { scope: unknown } };
    const local = Object.values(state.pods).filter((p) => p.node === n.name).length;
    expect(local).toBeGreaterThan(0);
    expect(local).toBeLessThan(Object.keys(state.pods).length);
    // (lingering subjects, if any, are counted apart: status.counts.scope.lingering)
    expect(status.counts.scope).toMatchObject({ node: n.name, localPods: local });
  }
}

function policyKeys(text: string): string[] {
  if (!text.trim()) return [];
  return Object.keys(objectsOf(compileSources([{ name: 'p.yaml', text }]).inputs).policies);
}

describe.skipIf(kernel.skip)(`upstream conformance on real packets (lab ${LAB}, 2 nodes)${kernel.suffix}`, () => {
  beforeAll(async () => {
    stats.startedAt = performance.now();
    const up = await labUp({ name: LAB, sources: [{ name: 'snapshot.yaml', text: snapshotYaml() }] });
    stats.upMs = up.timings.total ?? 0;
    expect(up.state.nodes.map((n) => `${n.name} ${n.podCidr}`)).toEqual(['node-1 10.244.1.0/24', 'node-2 10.244.2.0/24']);
    await expectNodeLocalTables();
  }, 120_000);

  afterAll(async () => {
    const down = await labDown(LAB);
    const total = Math.round(performance.now() - stats.startedAt);
    console.log(
      `lab conformance: ${stats.casesPassed}/${stats.cases} cases, ${stats.probesPassed}/${stats.probes} probes match the truth tables and computeReach; ` +
        `lab up ${stats.upMs} ms, applies ${Math.round(stats.applyMs)} ms, probes ${Math.round(stats.probeMs)} ms (${stats.probes ? Math.round(stats.probeMs / stats.probes) : 0} ms per 9x9 probe), suite ${total} ms`,
    );
    expect(down.leftNetns).toEqual([]);
    expect(down.leftProcesses).toEqual([]);
  }, 60_000);

  it('has 48 cases', () => {
    expect(cases.length).toBe(48);
  });

  for (const c of cases) {
    it(`${c.file}`, async () => {
      stats.cases++;
      const wrong: string[] = [];
      let previous: string[] = [];
      for (const [s, step] of c.steps.entries()) {
        const t0 = performance.now();
        const sources = [
          { name: `${c.file}#${s}/policies.yaml`, text: step.policies },
          { name: `${c.file}#${s}/snapshot.yaml`, text: step.snapshot },
        ];
        // step 0 replaces the whole policy set; later steps replay the changes as updates
        await labApply({ name: LAB, sources, prune: s === 0 });
        const now = policyKeys(step.policies);
        for (const key of previous.filter((k) => !now.includes(k))) {
          const [kind, ns, name] = key.split('/');
          await labDelete(LAB, kind!, `${ns}/${name}`);
        }
        previous = now;
        stats.applyMs += performance.now() - t0;
        const comp = compileSources(sources);
        expect(comp.program, `${c.file} step ${s} compiles`).toBeDefined();
        const evaluator = new Evaluator(comp.program!, comp.cluster);
        for (const probe of step.probes) {
          stats.probes++;
          const t1 = performance.now();
          const got = await labProbe(LAB, probe.port, probe.protocol, { timeoutMs: 500 });
          stats.probeMs += performance.now() - t1;
          const reach = computeReach(evaluator, probe.port, probe.protocol);
          expect(got.pods).toEqual(POD_ORDER);
          expect(reach.pods).toEqual(POD_ORDER);
          const diffs: string[] = [];
          for (const [i, from] of POD_ORDER.entries()) {
            for (const [j, to] of POD_ORDER.entries()) {
              if (i === j && c.ignoreLoopback) continue;
              const packets = got.allowed[i]![j]!;
              if (packets !== probe.expect[i]![j]) diffs.push(`${from} -> ${to}: packets ${packets ? 'connect' : 'blocked'}, truth table ${probe.expect[i]![j] ? 'connect' : 'blocked'}`);
              if (packets !== reach.allowed[i]![j]) diffs.push(`${from} -> ${to}: packets ${packets ? 'connect' : 'blocked'}, computeReach ${reach.allowed[i]![j] ? 'connect' : 'blocked'}`);
            }
          }
          if (diffs.length) wrong.push(`step ${s} ${probe.port}/${probe.protocol}:\n${formatMatrix(POD_ORDER, got.allowed)}\n  ${diffs.join('\n  ')}`);
          else stats.probesPassed++;
        }
      }
      expect(wrong, c.name).toEqual([]);
      stats.casesPassed++;
    }, 60_000);
  }

  it('ran every case on node-local tables (each daemon has decisions for its own pods only)', async () => {
    await expectNodeLocalTables();
  });
});
