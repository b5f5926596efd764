// Which lowerings `policyc compile` writes into the artifact.

import type { Compilation } from '../compiler/compile.js';
import type { BackendOutput } from '../compiler/emit/artifact.js';
import { emitNftables } from '../compiler/emit/nftables/index.js';

export function runBackends(compilation: Compilation, options: { table: string }): BackendOutput[] {
  const program = compilation.program!;
  // Without a snapshot the ruleset is the complete skeleton with empty maps; the node daemon
  // fills them from the pods it sees. With one, membership is filled in here.
  const nft = emitNftables(program, compilation.hasSnapshot ? compilation.cluster : undefined, { table: options.table });
  const c = nft.counts;
  return [
    {
      files: { 'nftables.json': nft.document },
      counts: {
        identities: c.identities,
        setElements: c.setElements,
        decisionElements: c.decisionElements,
        nftRules: c.rules,
        nftChains: c.chains,
        nftMaps: c.maps,
        perPacketRules: c.perPacketRules,
      },
    },
  ];
}
