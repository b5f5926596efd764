// Runs one measurement in a fresh `node --expose-gc` child and returns what it printed.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Measurement, TaskName } from './measure.js';

const MEASURE = fileURLToPath(new URL('./measure.js', import.meta.url));

/** `timeoutMs`: give up (the child is killed) and return undefined. */
export function measure(task: TaskName, paths: readonly string[], timeoutMs?: number): Measurement;
export function measure(task: TaskName, paths: readonly string[], timeoutMs: number): Measurement | undefined;
export function measure(task: TaskName, paths: readonly string[], timeoutMs?: number): Measurement | undefined {
  const child = spawnSync(process.execPath, ['--expose-gc', MEASURE, task, ...paths], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs, killSignal: 'SIGKILL' });
  if (timeoutMs !== undefined && child.signal === 'SIGKILL') return undefined;
  if (child.status !== 0) throw new Error(`${task} failed (exit ${child.status ?? child.signal}):\n${child.stderr}`);
  const last = child.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as Measurement;
}
