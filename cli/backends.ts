// Which lowerings `policyc compile` writes into the artifact.

import type { Compilation } from '../compiler/compile.js';
import type { BackendOutput } from '../compiler/emit/artifact.js';

export function runBackends(_compilation: Compilation, _options: { table: string }): BackendOutput[] {
  return [];
}
