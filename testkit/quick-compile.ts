// Test helper: compile inline YAML (policies + a small cluster) and ask for verdicts by name.

import { compileSources, type Compilation } from '../compiler/compile.js';
import { Evaluator } from '../compiler/evaluate/evaluator.js';
import { podEndpoint, type Endpoint } from '../compiler/evaluate/endpoints.js';
import type { Protocol } from '../compiler/model/k8s-types.js';
import { snapshotYaml } from './conformance.js';

export interface Quick {
  compilation: Compilation;
  evaluator: Evaluator;
  /** `x/a`, or an IP for an external endpoint. */
  endpoint(ref: string): Endpoint;
  allowed(from: string, to: string, port?: number, protocol?: Protocol): boolean;
}

/** Policies over the conformance model (namespaces x,y,z; pods a,b,c) unless a snapshot is given. */
export function quickCompile(policies: string, snapshot: string = snapshotYaml()): Quick {
  const compilation = compileSources([
    { name: 'policies.yaml', text: policies },
    { name: 'cluster.yaml', text: snapshot },
  ]);
  const errors = compilation.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0 || !compilation.program) throw new Error(`unexpected errors: ${JSON.stringify(errors)}`);
  const evaluator = new Evaluator(compilation.program, compilation.cluster);
  const endpoint = (ref: string): Endpoint => {
    if (!ref.includes('/') || /^\d/.test(ref) || ref.includes(':')) return { kind: 'external', ip: ref };
    const [ns, name] = ref.split('/');
    const pod = compilation.cluster.pods.find((p) => p.namespace === ns && p.name === name);
    if (!pod) throw new Error(`no pod ${ref}`);
    return podEndpoint(compilation.cluster, pod);
  };
  return {
    compilation,
    evaluator,
    endpoint,
    allowed: (from, to, port = 80, protocol = 'TCP') => evaluator.evaluate({ source: endpoint(from), destination: endpoint(to), protocol, port }).allowed,
  };
}
