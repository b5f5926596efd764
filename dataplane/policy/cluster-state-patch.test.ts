// ClusterState patches its cached cluster for pods-only changes and endpoint changes instead of
// rebuilding it (cluster-state.ts patchPods): after every step of random churn (pod upserts with
// new labels or addresses, pod deletes, endpoints added and removed, sometimes claiming an
// address an API pod holds, sometimes a namespace that only pods name), cluster() must equal the
// cluster a fresh state with the same objects builds, and so must localPods (carried along by the
// patches); a patched step keeps the nodes array (the
// compiler's address classifier is cached by it), and many steps are patched.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClusterState, type EndpointLike } from './cluster-state.js';
import { ns, pod } from './testing.js';

type Step =
  | { kind: 'upsert'; name: number; labels: number; ip: number; namespace: number }
  | { kind: 'delete'; name: number }
  | { kind: 'endpoint-add'; name: number; ip: number }
  | { kind: 'endpoint-remove'; which: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('upsert' as const), name: fc.nat(11), labels: fc.nat(3), ip: fc.nat(15), namespace: fc.nat(2) }),
  fc.record({ kind: fc.constant('delete' as const), name: fc.nat(11) }),
  fc.record({ kind: fc.constant('endpoint-add' as const), name: fc.nat(11), ip: fc.nat(15) }),
  fc.record({ kind: fc.constant('endpoint-remove' as const), which: fc.nat(5) }),
);

// namespace 'z' is never pushed as an object: only its pods name it
const NAMESPACES = ['x', 'y', 'z'];

describe('ClusterState patches its cached cluster', () => {
  it('equals a fresh build after every step of random pod and endpoint churn', () => {
    let patched = 0;
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
        const state = new ClusterState();
        const nodes = [{ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.0.1' }] } }];
        const initial = [0, 1, 2, 3].map((i) => pod('x', `p${i}`, { app: `a${i % 2}` }, `10.0.0.${i + 1}`));
        state.apply({ namespaces: [ns('x', { team: 'x' }), ns('y', { team: 'y' })], pods: initial, nodes });
        const apiPods = new Map<string, unknown>(initial.map((p) => [`x/${p.metadata.name}`, p]));
        const endpoints: EndpointLike[] = [];
        for (const s of steps) {
          const before = state.cluster();
          state.localPods('node-1'); // cached, so that the patches carry it along
          if (s.kind === 'upsert') {
            const namespace = NAMESPACES[s.namespace];
            const base = pod(namespace, `p${s.name}`, { app: `a${s.labels}` }, `10.0.0.${s.ip + 1}`);
            const p = { ...base, spec: { ...base.spec, nodeName: s.ip % 2 === 0 ? 'node-1' : 'node-2' } };
            state.apply({ upsert: [p] });
            apiPods.set(`${namespace}/p${s.name}`, p);
          } else if (s.kind === 'delete') {
            const k = [...apiPods.keys()].find((k) => k.endsWith(`/p${s.name}`));
            if (!k) continue;
            const [namespace, name] = k.split('/');
            state.apply({ delete: [{ kind: 'Pod', namespace, name }] });
            apiPods.delete(k);
          } else if (s.kind === 'endpoint-add') {
            const ep = { containerId: `c${endpoints.length}-${s.name}`, ifname: 'eth0', namespace: 'x', podName: `p${s.name}`, ips: [`10.0.0.${s.ip + 1}/32`] };
            endpoints.push(ep);
            state.addEndpoint(ep);
          } else {
            const ep = endpoints.splice(s.which % Math.max(1, endpoints.length), 1)[0];
            if (!ep) continue;
            state.removeEndpoint(ep);
          }
          const after = state.cluster();
          const fresh = new ClusterState();
          fresh.apply({ namespaces: [ns('x', { team: 'x' }), ns('y', { team: 'y' })], pods: [...apiPods.values()], nodes });
          fresh.setEndpoints(endpoints);
          expect(after).toEqual(fresh.cluster());
          expect(state.localPods('node-1')).toEqual(fresh.localPods('node-1'));
          if (after.nodes === before.nodes) patched++;
        }
      }),
      { numRuns: 200, seed: 20261128 },
    );
    // many steps were patched, not rebuilt (a rebuild gives a new nodes array; shared addresses and namespace z rebuild)
    expect(patched).toBeGreaterThan(200);
  });

  it('patches rather than rebuilds a pod add, a delete and an endpoint of its own address', () => {
    const state = new ClusterState();
    state.apply({ namespaces: [ns('x', {})], pods: [pod('x', 'a', {}, '10.0.0.1')], nodes: [] });
    const nodes = state.cluster().nodes;
    state.apply({ upsert: [pod('x', 'b', {}, '10.0.0.2')] });
    state.apply({ delete: [{ kind: 'Pod', namespace: 'x', name: 'a' }] });
    state.addEndpoint({ containerId: 'c', ifname: 'eth0', namespace: 'x', podName: 'b', ips: ['10.0.0.2/32'] });
    expect(state.cluster().nodes).toBe(nodes);
    expect(state.cluster().pods.map((p) => `${p.name} ${p.ips.join()}`)).toEqual(['b 10.0.0.2']);
  });
});
