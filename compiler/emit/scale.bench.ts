// Scale check for computeMembership / updateMembership (not a vitest file):
//   npx tsx compiler/emit/scale.bench.ts 5000 1000 [--no-update]
import { createHash } from 'node:crypto';
import { generateCluster } from '../../bench/generate-cluster.js';
import { compileSources } from '../compile.js';
import * as membershipModule from './membership.js';
import type { Membership } from './membership.js';

const pods = Number(process.argv[2] ?? 5000);
const policies = Number(process.argv[3] ?? 1000);
const g = generateCluster({ pods, policies });
const list = (items: unknown[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
const compilation = compileSources([
  { name: 'policies.json', text: list([...g.networkPolicies, ...g.adminPolicies, g.baselinePolicy]) },
  { name: 'snapshot.json', text: list([...g.namespaces, ...g.nodes, ...g.pods]) },
]);
const program = compilation.program!;
const cluster = compilation.cluster;

function digest(m: Membership): string {
  const h = createHash('sha256');
  for (const e of m.identityElements) h.update(`${e.family}/${e.first}-${e.last}=${e.identity}:${e.pod ?? ''}\n`);
  for (const e of m.decisionElements) h.update(`${e.direction}/${e.subject}/${e.peer}/${e.protoFrom}-${e.protoTo}/${e.portFrom}-${e.portTo}=${e.rule.id}\n`);
  for (const d of ['egress', 'ingress'] as const) h.update(`${d}:${m.isolated[d].join(',')}\n`);
  return h.digest('hex').slice(0, 16);
}

global.gc?.();
const heap0 = process.memoryUsage().heapUsed;
let t = performance.now();
const m = membershipModule.computeMembership(program, cluster);
const ms = performance.now() - t;
const heap1 = process.memoryUsage().heapUsed;
console.log(
  JSON.stringify({
    pods: cluster.pods.length,
    groups: program.groups.length,
    rules: program.rules.length,
    identities: m.identities.identities.length,
    identityElements: m.identityElements.length,
    decisionElements: m.decisionElements.length,
    computeMembershipMs: Math.round(ms),
    heapDeltaMB: Math.round((heap1 - heap0) / 2 ** 20),
    rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
    digest: digest(m),
  }),
);

const update = (membershipModule as Record<string, unknown>).updateMembership as
  | ((prev: Membership, p: typeof program, c: typeof cluster, changed: readonly string[]) => Membership)
  | undefined;
if (update && !process.argv.includes('--no-update')) {
  const pod = cluster.pods[Math.floor(cluster.pods.length / 2)];
  const other = cluster.pods.find((p) => p.namespace === pod.namespace && p.labels.app !== pod.labels.app) ?? pod;
  const scenarios: Array<[string, Record<string, string>]> = [
    ['app+tier', { ...pod.labels, app: other.labels.app, tier: other.labels.tier }],
    ['pod-template-hash', { ...pod.labels, 'pod-template-hash': 'zzzzzzzzzz' }],
    ['new-identity', { ...pod.labels, app: 'never-seen', tier: 'frontend' }],
  ];
  for (const [name, labels] of scenarios) {
    const changed = { ...cluster, pods: cluster.pods.map((p) => (p === pod ? { ...p, labels } : p)) };
    const times: number[] = [];
    let next: Membership | undefined;
    for (let i = 0; i < 5; i++) {
      t = performance.now();
      next = update(m, program, changed, [`${pod.namespace}/${pod.name}`]);
      times.push(performance.now() - t);
    }
    const d = membershipModule.membershipDiff(m, next!);
    const fresh = membershipModule.computeMembership(program, changed, m);
    console.log(JSON.stringify({ scenario: name, updateMsMedian: +times.sort((a, b) => a - b)[2].toFixed(2), diffSize: membershipModule.diffSize(d), equalsFresh: digest(fresh) === digest(next!) }));
  }
}
