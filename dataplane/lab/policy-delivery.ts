// How compiled policies reach the nodes. THE SWITCH is `DELIVERY` (one line):
//   'daemon'  the node daemon runs its policy engine (dataplane/policy/, `--policy on`): the lab
//             pushes the cluster state ('cluster-state' {namespaces, nodes, pods}, a whole
//             state) and the compiled artifact ('artifacts' {files}) over the daemon's socket;
//             the engine applies nft atomically in the node netns. The engine fails closed
//             (CNI ADD "try again later" until a policy is loaded), so the lab delivers before
//             it creates pods.
//   'direct'  the daemons run CNI-only and the lab loads the compiled nftables document into
//             each node netns itself (dataplane/nft/loader.ts applyRuleset).
// Either way the lab then flushes conntrack in the node netns, so the next probe is judged by
// the new policy (established flows are accepted without a lookup).
import { runBackends } from '../../compiler/emit/backends.js';
import type { Compilation } from '../../compiler/compile.js';
import { buildArtifact } from '../../compiler/emit/artifact.js';
import { emitNftables } from '../../compiler/emit/nftables/ruleset.js';
import { applyRuleset } from '../nft/loader.js';
import { daemonRequest } from './daemon-client.js';
import { ensureHelper } from './helper.js';
import { netnsPath } from './names.js';
import type { LabObjects } from './objects.js';
import { must } from './run.js';
import type { LabNode } from './state.js';

export type Delivery = 'daemon' | 'direct';
export const DELIVERY: Delivery = (process.env.POLICYC_LAB_DELIVERY as Delivery | undefined) ?? 'daemon';

/** Extra `policyc daemon` arguments for the chosen delivery. */
export function daemonPolicyArgs(how: Delivery = DELIVERY): string[] {
  return how === 'daemon' ? ['--policy', 'on'] : [];
}

export interface Delivered {
  how: Delivery;
  ms: number;
}

export async function deliverPolicies(nodes: readonly LabNode[], compilation: Compilation, objects: LabObjects, how: Delivery = DELIVERY): Promise<Delivered> {
  const started = performance.now();
  if (how === 'daemon') await viaDaemon(nodes, compilation, objects);
  else {
    const { document } = emitNftables(compilation.program!, compilation.cluster);
    await Promise.all(nodes.map((n) => applyRuleset(n.netns, document)));
  }
  await flushConntrack(nodes);
  return { how, ms: performance.now() - started };
}

async function viaDaemon(nodes: readonly LabNode[], compilation: Compilation, objects: LabObjects): Promise<void> {
  const backends = runBackends(compilation, { table: 'policyc' });
  if (backends.diagnostics.length > 0) throw new Error(backends.diagnostics.map((d) => `${d.code}: ${d.message}`).join('\n'));
  const artifact = buildArtifact(compilation.program!, compilation.sources, backends.outputs, { withSnapshot: compilation.hasSnapshot, generator: 'policyc lab' });
  const files = Object.fromEntries(artifact.files);
  const clusterState = { namespaces: Object.values(objects.namespaces), nodes: Object.values(objects.nodes), pods: Object.values(objects.pods) };
  const failures: string[] = [];
  await Promise.all(
    nodes.map(async (n) => {
      for (const request of [{ type: 'cluster-state', ...clusterState }, { type: 'artifacts', files }]) {
        const reply = (await daemonRequest(n.socket, request, 60_000)) as { error?: string; ok?: boolean };
        if (reply?.error || reply?.ok === false) {
          failures.push(`${n.name} '${request.type}': ${reply.error ?? JSON.stringify(reply)}`);
          return;
        }
      }
    }),
  );
  if (failures.length) throw new Error(`policy delivery to the node daemons failed: ${failures.join('; ')}`);
}

export async function flushConntrack(nodes: readonly LabNode[]): Promise<void> {
  const helper = await ensureHelper();
  await must(helper, ['ct-flush', ...nodes.map((n) => netnsPath(n.netns))]);
}
