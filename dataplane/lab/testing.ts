// Helpers shared by the lab's test files: running a CLI command in-process with its output
// captured, reachability matrices from `policyc reach` and the lab, and the overlay's counters.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect } from 'vitest';
import { command as labCommand } from '../../cli/commands/lab.js';
import { command as reachCommand } from '../../cli/commands/reach.js';
import { labDown } from './lab.js';
import { must } from './run.js';

export interface CliCommand {
  run(args: string[], io: { stdout: Writable; stderr: Writable; cwd: string }): Promise<number>;
}

/** Runs a `policyc` subcommand in-process; stdout and stderr captured. */
export async function cli(cmd: CliCommand, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write: (chunk, _e, cb) => (f(String(chunk)), cb()) });
  const code = await cmd.run(args, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), cwd: process.cwd() });
  return { code, stdout: out, stderr: err };
}

export interface Matrix {
  pods: string[];
  allowed: boolean[][];
}

/** `policyc reach -o json` over `files` (with --family when given). */
export async function reach(files: readonly string[], port: string, protocol: string, family?: 4 | 6): Promise<Matrix> {
  const r = await cli(reachCommand, [...files.flatMap((f) => ['-f', f]), '--port', port, '--protocol', protocol, ...(family ? ['--family', String(family)] : []), '-o', 'json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Matrix;
}

/** The diagonal is loopback inside the pod: no dataplane sees it. */
export const offDiagonal = (m: Matrix) => ({ pods: m.pods, allowed: m.allowed.map((row, i) => row.map((a, j) => (i === j ? null : a))) });
export const cell = (m: Matrix, from: string, to: string) => m.allowed[m.pods.indexOf(from)]![m.pods.indexOf(to)];

/** Packets the node's VXLAN device sent: proof that a flow crossed the overlay. */
export async function vxlanTx(netns: string): Promise<number> {
  const [link] = JSON.parse(await must('ip', ['-j', '-s', '-n', netns, 'link', 'show', 'dev', 'vxlan0'])) as Array<{ stats64: { tx: { packets: number } } }>;
  return link!.stats64.tx.packets;
}

export interface SuiteLab {
  /** the lab's name: `prefix` and 6 random hex digits */
  readonly name: string;
  /** a scratch directory for the suite's files, removed after the suite */
  readonly dir: string;
}

/**
 * A lab for one describe block: `lab up` before its tests (with the files `up` returns, written
 * into `dir` first if needed), `lab down` and the scratch directory removed after them. A failed
 * `up` takes the lab down at once (afterAll runs too, but a half-made lab must not wait for it).
 * Without `up`, the suite brings its lab up itself and only the teardown is registered.
 */
export function suiteLab(prefix: string, up?: (lab: SuiteLab) => string[]): SuiteLab {
  const lab: SuiteLab = { name: `${prefix}${randomBytes(3).toString('hex')}`, dir: mkdtempSync(join(tmpdir(), `policyc-lab-${prefix}-`)) };
  if (up) {
    beforeAll(async () => {
      try {
        const r = await cli(labCommand, ['up', '--name', lab.name, ...up(lab).flatMap((f) => ['-f', f])]);
        expect(r.code, r.stderr).toBe(0);
      } catch (err) {
        await labDown(lab.name);
        throw err;
      }
    }, 120_000);
  }
  afterAll(async () => {
    try {
      await labDown(lab.name);
    } finally {
      rmSync(lab.dir, { recursive: true, force: true });
    }
  }, 60_000);
  return lab;
}
