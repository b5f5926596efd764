// Child-process entry: runs one task once and prints one JSON line with its wall time and
// the process's peak RSS, so measurements never share a heap or a JIT.
//   node --expose-gc dist/bench/measure.js <task> <file>...

import { compilePhases } from './task-phases.js';
import { compileToArtifact } from './task-compile.js';
import { emittedSize } from './task-emitted.js';
import { labelChange } from './task-label-change.js';
import { labelChangeNode } from './task-label-change-node.js';
import { parseJsYaml, parseJson, parseYamlDocuments } from './task-parse.js';

export type TaskName = 'compile' | 'compile-node' | 'compile-core' | 'js-yaml' | 'json' | 'yaml-doc' | 'phases' | 'label-change' | 'label-change-emit' | 'label-change-node' | 'emitted' | 'emitted-nft' | 'emitted-linear';

const TASKS: Record<TaskName, (paths: string[]) => Record<string, number | string> | Promise<Record<string, number | string>>> = {
  compile: (p) => compileToArtifact(p),
  'compile-node': (p) => compileToArtifact(p, true, 'busiest'),
  'compile-core': (p) => compileToArtifact(p, false),
  'js-yaml': parseJsYaml,
  json: parseJson,
  'yaml-doc': parseYamlDocuments,
  phases: compilePhases,
  'label-change': (p) => labelChange(p, 'bench'),
  'label-change-emit': (p) => labelChange(p, 'emit'),
  'label-change-node': labelChangeNode,
  emitted: (p) => emittedSize(p, 'bench'),
  'emitted-nft': (p) => emittedSize(p, 'nft'),
  'emitted-linear': (p) => emittedSize(p, 'linear'),
};

export interface Measurement {
  task: TaskName;
  /** Wall time. */
  ms: number;
  /** CPU time (user + system, all threads: GC helpers too); less disturbed by other load. */
  cpuMs: number;
  maxRssMB: number;
  result: Record<string, number | string>;
}

async function main(): Promise<void> {
  const [task, ...paths] = process.argv.slice(2);
  const run = TASKS[task as TaskName];
  if (!run) throw new Error(`unknown task ${task}`);
  (globalThis as { gc?: () => void }).gc?.();
  const start = performance.now();
  const cpu = process.cpuUsage();
  const result = await run(paths);
  const ms = performance.now() - start;
  const used = process.cpuUsage(cpu);
  const m: Measurement = { task: task as TaskName, ms, cpuMs: (used.user + used.system) / 1000, maxRssMB: process.resourceUsage().maxRSS / 1024, result };
  process.stdout.write(`${JSON.stringify(m)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
