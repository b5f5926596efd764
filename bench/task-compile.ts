// The subject: what `policyc compile -f <files> -o <dir>` does short of writing files, i.e.
// read text -> compileSources -> lowered program -> backends (cli/backends.ts) -> artifact;
// or without the backends (the compiler proper: parse, check, lower, artifact).

import { readFileSync } from 'node:fs';
import { runBackends } from '../compiler/emit/backends.js';
import { compileSources } from '../compiler/compile.js';
import { buildArtifact } from '../compiler/emit/artifact.js';
import type { SourceFile } from '../compiler/syntax/source.js';

export function readSources(paths: readonly string[]): SourceFile[] {
  return paths.map((path) => ({ name: path, text: readFileSync(path, 'utf8') }));
}

/**
 * `backends: false`: the compiler's own part only (artifact without backend files).
 * `node: 'busiest'`: the table of the node with the most pods (`policyc compile --node`).
 */
export function compileToArtifact(paths: readonly string[], backends = true, node?: 'busiest'): Record<string, number> {
  const compilation = compileSources(readSources(paths));
  const errors = compilation.diagnostics.filter((d) => d.severity === 'error');
  if (!compilation.program) {
    throw new Error(`compile failed with ${errors.length} errors; first: ${errors[0]?.code} ${errors[0]?.message}`);
  }
  let nodeName: string | undefined;
  let localPods = 0;
  if (node === 'busiest') {
    const count = new Map<string, number>();
    for (const p of compilation.cluster.pods) if (p.node) count.set(p.node, (count.get(p.node) ?? 0) + 1);
    [nodeName, localPods] = [...count.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0];
  }
  const lowered = backends ? runBackends(compilation, { table: 'policyc', node: nodeName }) : { outputs: [], diagnostics: [] };
  // `policyc compile` writes nothing then: report it as the failure it is
  if (lowered.diagnostics.length > 0) throw new Error(`${lowered.diagnostics[0].code}: ${lowered.diagnostics[0].message.split('. ')[0]}`);
  const outputs = lowered.outputs;
  const artifact = buildArtifact(compilation.program, compilation.sources, outputs, { withSnapshot: compilation.hasSnapshot, generator: 'policyc bench' });
  let bytes = 0;
  for (const text of artifact.files.values()) bytes += text.length;
  return {
    diagnostics: compilation.diagnostics.length,
    errors: errors.length,
    pods: compilation.cluster.pods.length,
    policies: compilation.program.policies.length,
    rules: compilation.program.rules.length,
    groups: compilation.program.groups.length,
    ...(nodeName ? { localPods } : {}),
    artifactChars: bytes,
    ...artifact.manifest.counts,
  };
}
