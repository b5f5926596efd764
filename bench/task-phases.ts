// Where compile time goes: the steps of compileSources, timed one by one (same calls, same
// order, see compiler/compile.ts), then the artifact without backends (the backends' cost is
// the difference between the "compile" and "without backends" rows). For profiling; the
// headline figure is task-compile.ts, which calls compileSources itself.

import { checkPolicySet } from '../compiler/check/index.js';
import { buildArtifact } from '../compiler/emit/artifact.js';
import { lowerProgram } from '../compiler/lower/program.js';
import { buildCluster } from '../compiler/model/cluster.js';
import { collectObjects, emptyInputs } from '../compiler/model/inputs.js';
import { parseFile } from '../compiler/syntax/documents.js';
import { SourceSet } from '../compiler/syntax/source.js';
import { readSources } from './task-compile.js';

export function compilePhases(paths: readonly string[]): Record<string, number> {
  const times: Record<string, number> = {};
  let t = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    times[name] = (times[name] ?? 0) + (now - t);
    t = now;
  };
  const files = readSources(paths);
  lap('read');
  const sources = new SourceSet();
  const inputs = emptyInputs();
  for (const file of files) {
    sources.add(file);
    const parsed = parseFile(file);
    lap('parse');
    collectObjects(parsed.documents, inputs);
    lap('collect');
  }
  const { cluster } = buildCluster(inputs);
  lap('buildCluster');
  checkPolicySet(inputs.policies);
  lap('check');
  const program = lowerProgram(inputs.policies);
  lap('lower');
  buildArtifact(program, sources, [], { withSnapshot: cluster.pods.length > 0 });
  lap('artifact');
  return times;
}
