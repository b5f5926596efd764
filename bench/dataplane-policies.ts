// The policy side of bench/dataplane-throughput.ts: a synthetic cluster from
// bench/generate-cluster.ts and the benchmark flow between two of its pods (the client and
// server namespaces use those pods' IPs; their labels are what the policies select).
//
// In the generated policy sets nearly all pod-to-pod traffic is denied (every namespace has a
// default deny, egress to pods is only allowed towards one database on `postgres`, whose
// ingress rarely admits a peer: at 2,000 pods / 400 policies not one of 5,000 candidate flows
// was allowed with a rule on each side). So, like an application team would, the benchmark
// adds two NetworkPolicies to the namespace in the middle of the (sorted) namespace list: the
// client's egress to the server's port and the server's ingress from the client. They replace
// two generated policies, so the NetworkPolicy count is the one asked for, and they sit in the
// middle of the policy order (policies are ordered by namespace/name), so a linear walk
// traverses about half of the rules before reaching them. The reference evaluator must ALLOW the
// flow with a rule deciding each side, and deny a second port (5433), or the run stops.

import { generateCluster } from './generate-cluster.js';
import { kubeList, toKubectlJson } from './kube-yaml.js';
import { compileSources, type Compilation } from '../compiler/compile.js';
import type { Cluster, ClusterPod } from '../compiler/model/cluster.js';
import { findPod } from '../compiler/model/cluster.js';
import type { Program, Rule } from '../compiler/ir/types.js';
import { Evaluator, type Verdict } from '../compiler/evaluate/evaluator.js';
import { podEndpoint } from '../compiler/evaluate/endpoints.js';

type Obj = Record<string, any>;

export interface BenchFlow {
  readonly client: ClusterPod;
  readonly server: ClusterPod;
  readonly clientIp: string;
  readonly serverIp: string;
  readonly port: number;
  /** A TCP port of the server the policies deny for this client (probe: must be dropped). */
  readonly deniedPort: number;
  readonly verdict: Verdict;
  readonly egressRule: Rule;
  readonly ingressRule: Rule;
}

export interface BenchInputs {
  readonly compilation: Compilation;
  readonly program: Program;
  readonly cluster: Cluster;
  readonly networkPolicies: number;
  /** AdminNetworkPolicies + the BaselineAdminNetworkPolicy. */
  readonly adminPolicies: number;
  readonly flow: BenchFlow;
  /** Position of the injected policies in the NetworkPolicy order (0..1). */
  readonly flowPolicyPosition: number;
}

const DENIED_PORT = 5433;

function podIp(pod: Obj): string {
  return pod.status.podIP as string;
}

/** Server: a pod with a TCP port other than 8080 and metrics (the ANPs match those); client: another pod of the namespace on another node. */
function pickPair(pods: Obj[]): { client: Obj; server: Obj; port: number } | undefined {
  for (const server of pods) {
    const port = (server.spec.containers[0].ports as Obj[]).find((p) => p.protocol === 'TCP' && p.containerPort !== 8080 && !String(p.name).startsWith('metrics'));
    if (!port) continue;
    const client = pods.find((c) => c !== server && c.spec.nodeName !== server.spec.nodeName && c.metadata.labels.app !== server.metadata.labels.app);
    if (client) return { client, server, port: port.containerPort as number };
  }
  return undefined;
}

function benchPolicies(namespace: string, clientApp: string, serverApp: string, port: number): Obj[] {
  const meta = (name: string) => ({ name, namespace, generation: 1 });
  return [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(`${clientApp}-bench-egress`),
      spec: { egress: [{ ports: [{ port, protocol: 'TCP' }], to: [{ podSelector: { matchLabels: { app: serverApp } } }] }], podSelector: { matchLabels: { app: clientApp } }, policyTypes: ['Egress'] },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(`${serverApp}-bench-ingress`),
      spec: { ingress: [{ from: [{ podSelector: { matchLabels: { app: clientApp } } }], ports: [{ port, protocol: 'TCP' }] }], podSelector: { matchLabels: { app: serverApp } }, policyTypes: ['Ingress'] },
    },
  ];
}

export function buildBenchInputs(pods: number, policies: number, adminPolicies: number, seed = 42): BenchInputs {
  if (policies < 4) throw new Error('--policies must be at least 4');
  const g = generateCluster({ pods, policies: policies - 2, adminPolicies, seed });
  const tenants = (g.namespaces as Obj[]).map((n) => n.metadata.name as string).filter((n) => n !== 'kube-system' && n !== 'monitoring').sort();
  const byNs = new Map<string, Obj[]>();
  for (const p of g.pods as Obj[]) {
    let l = byNs.get(p.metadata.namespace);
    if (!l) byNs.set(p.metadata.namespace, (l = []));
    l.push(p);
  }
  // The middle namespace first, then outwards.
  const mid = Math.floor(tenants.length / 2);
  const order: string[] = [];
  for (let k = 0; order.length < tenants.length; k++) {
    if (mid + k < tenants.length) order.push(tenants[mid + k]);
    if (k > 0 && mid - k >= 0) order.push(tenants[mid - k]);
  }
  let pair: { ns: string; client: Obj; server: Obj; port: number } | undefined;
  for (const ns of order) {
    const p = pickPair(byNs.get(ns) ?? []);
    if (p) {
      pair = { ns, ...p };
      break;
    }
  }
  if (!pair) throw new Error('no namespace has two pods on different nodes');
  const injected = benchPolicies(pair.ns, pair.client.metadata.labels.app, pair.server.metadata.labels.app, pair.port);
  const networkPolicies = [...(g.networkPolicies as Obj[]), ...injected];
  const clusterText = toKubectlJson(kubeList([...g.namespaces, ...g.nodes, ...g.pods]));
  const policyText = toKubectlJson(kubeList([...networkPolicies, ...g.adminPolicies, g.baselinePolicy]));
  const compilation = compileSources([
    { name: 'cluster.json', text: clusterText },
    { name: 'policies.json', text: policyText },
  ]);
  const errors = compilation.diagnostics.filter((d) => d.severity === 'error');
  if (!compilation.program || errors.length > 0) throw new Error(`compile failed: ${errors.length} errors; first: ${errors[0]?.code} ${errors[0]?.message}`);
  const { program, cluster } = compilation;

  const client = findPod(cluster, pair.ns, pair.client.metadata.name);
  const server = findPod(cluster, pair.ns, pair.server.metadata.name);
  if (!client || !server) throw new Error('benchmark pods missing from the compiled cluster');
  const flow = { source: podEndpoint(cluster, client), destination: podEndpoint(cluster, server), protocol: 'TCP' as const, port: pair.port };
  const evaluator = new Evaluator(program, cluster);
  const verdict = evaluator.evaluate(flow);
  if (!verdict.allowed || verdict.egress.decision.kind !== 'rule' || verdict.ingress.decision.kind !== 'rule') {
    throw new Error(`the benchmark flow ${pair.ns}/${client.name} -> ${server.name}:${pair.port} is not allowed by a rule on each side (egress ${verdict.egress.decision.kind}, ingress ${verdict.ingress.decision.kind}, allowed ${verdict.allowed})`);
  }
  if (evaluator.evaluate({ ...flow, port: DENIED_PORT }).allowed) throw new Error(`port ${DENIED_PORT} is allowed too; the drop probe needs a denied port`);
  const npOrder = program.policies.filter((p) => p.tier === 'networkpolicy');
  const at = npOrder.findIndex((p) => p.ref.namespace === pair!.ns && p.ref.name === injected[0].metadata.name);
  return {
    compilation,
    program,
    cluster,
    networkPolicies: networkPolicies.length,
    adminPolicies: g.adminPolicies.length + 1,
    flow: {
      client,
      server,
      clientIp: podIp(pair.client),
      serverIp: podIp(pair.server),
      port: pair.port,
      deniedPort: DENIED_PORT,
      verdict,
      egressRule: verdict.egress.decision.rule,
      ingressRule: verdict.ingress.decision.rule,
    },
    flowPolicyPosition: npOrder.length > 0 ? at / npOrder.length : 0,
  };
}
