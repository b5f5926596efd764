// Real packets: a node namespace routes between nine pod namespaces; the emitted table is loaded
// in the node namespace and TCP/UDP probes must match the upstream truth tables.

import { describe, expect, it } from 'vitest';
import { compileSources } from '../../compiler/compile.js';
import { emitNftables } from '../../compiler/emit/nftables/ruleset.js';
import { loadCases, POD_ORDER, DEFAULT_POD_IPS } from '../../testkit/conformance.js';
import { applyRuleset, kernelAvailable } from './loader.js';
import { createPodNetwork, probeFrom, startServers, stopServers } from './podnet.js';
import { guardSuite } from '../../testkit/requirements.js';

const kernel = guardSuite('real packets through the node namespace', await kernelAvailable());

// ingress by pod OR namespace selector; named port; egress ipBlock with except; UDP ports; egress deny.
const CASES = ['009', '017', '035', '044', '026'];

describe.skipIf(kernel.skip)(kernel.title, () => {
  it('connect exactly where the truth tables say (TCP and UDP probes)', async () => {
    const cases = loadCases().filter((c) => CASES.some((p) => c.file.startsWith(p)));
    expect(cases.length).toBe(CASES.length);
    const net = await createPodNetwork(POD_ORDER.map((key) => ({ key, ip: DEFAULT_POD_IPS[key] })));
    let servers: Awaited<ReturnType<typeof startServers>> = [];
    try {
      servers = await startServers(net, [80, 81]);
      let checked = 0;
      let blocked = 0;
      let connected = 0;
      for (const c of cases) {
        for (const [stepIndex, step] of c.steps.entries()) {
          const comp = compileSources([
            { name: 'policies.yaml', text: step.policies },
            { name: 'snapshot.yaml', text: step.snapshot },
          ]);
          const ips = new Map(comp.cluster.pods.map((p) => [`${p.namespace}/${p.name}`, p.ips[0]]));
          // The lab's addresses are fixed; cases that move pods would need their own network.
          if (POD_ORDER.some((k) => ips.get(k) !== DEFAULT_POD_IPS[k])) continue;
          await applyRuleset(net.node, emitNftables(comp.program!, comp.cluster).document);
          for (const probe of step.probes) {
            if (probe.protocol === 'SCTP') continue; // no SCTP sockets on this kernel
            const results = await Promise.all(
              POD_ORDER.map(async (src, i) => {
                const targets = POD_ORDER.map((dst) => {
                  const pod = comp.cluster.pods.find((p) => `${p.namespace}/${p.name}` === dst)!;
                  const port = typeof probe.port === 'number' ? probe.port : pod.ports.find((p) => p.name === probe.port && p.protocol === probe.protocol)?.port;
                  return [DEFAULT_POD_IPS[dst], port ?? 1, probe.protocol as 'TCP' | 'UDP'] as const;
                });
                const got = await probeFrom(net, src, targets);
                return got.map((ok, j) => ({ i, j, ok }));
              }),
            );
            const wrong: string[] = [];
            for (const { i, j, ok } of results.flat()) {
              if (i === j) continue; // loopback never crosses the node
              checked++;
              if (ok) connected++;
              else blocked++;
              if (ok !== probe.expect[i][j]) wrong.push(`${POD_ORDER[i]} -> ${POD_ORDER[j]}: got ${ok ? 'connected' : 'blocked'}`);
            }
            expect(wrong, `${c.file} step ${stepIndex} ${probe.port}/${probe.protocol}`).toEqual([]);
          }
        }
      }
      expect(checked).toBeGreaterThan(200);
      expect(blocked).toBeGreaterThan(20);
      expect(connected).toBeGreaterThan(20);
    } finally {
      stopServers(servers);
      await net.destroy();
    }
  }, 240_000);
});
