// Which lowerings `policyc compile` writes into the artifact, and the dataplane limits they
// must respect (checked before anything is written).

import type { Compilation } from '../compile.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import type { BackendOutput } from './artifact.js';
import { checkDataplaneLimits, decisionLimitDiagnostic, DEFAULT_LIMITS, type DataplaneLimits } from './limits.js';
import { DecisionLimitError } from './decisions.js';
import { emitNftables } from './nftables/index.js';

export function runBackends(
  compilation: Compilation,
  options: { table: string; limits?: DataplaneLimits; node?: string },
): { outputs: BackendOutput[]; diagnostics: Diagnostic[] } {
  const program = compilation.program!;
  // Without a snapshot the ruleset is the complete skeleton with empty maps; the node daemon
  // fills them from the pods it sees. With one, membership is filled in here: for the whole
  // cluster, or (`node`) the table that node loads: decisions for its own pods only.
  const localPods = options.node === undefined ? undefined : new Set(compilation.cluster.pods.filter((p) => p.node === options.node).map((p) => `${p.namespace}/${p.name}`));
  const limits = options.limits ?? DEFAULT_LIMITS;
  let nft: ReturnType<typeof emitNftables>;
  try {
    nft = emitNftables(program, compilation.hasSnapshot ? compilation.cluster : undefined, { table: options.table, localPods, maxPairsPerDirection: limits.maxDecisionElements });
  } catch (err) {
    if (err instanceof DecisionLimitError) return { outputs: [], diagnostics: [decisionLimitDiagnostic(program, err, limits)] };
    throw err;
  }
  const diagnostics = nft.membership ? checkDataplaneLimits(program, nft.membership, limits) : [];
  const c = nft.counts;
  const outputs: BackendOutput[] = [
    {
      files: { 'nftables.json': nft.document },
      compact: true,
      counts: {
        identities: c.identities,
        setElements: c.setElements,
        decisionElements: c.decisionElements,
        pairElements: c.pairElements,
        portElements: c.portElements,
        nftRules: c.rules,
        nftChains: c.chains,
        nftMaps: c.maps,
        perPacketRules: c.perPacketRules,
      },
    },
  ];
  return { outputs, diagnostics };
}
