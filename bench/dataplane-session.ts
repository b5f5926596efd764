// What the dataplane benchmarks (dataplane-throughput.ts, dataplane-profile.ts) share around
// their topologies: the load generator's source, the conntrack-only ruleset, a scratch session
// that removes its servers, namespaces and files once (at the end or on SIGINT/SIGTERM), a run
// whose output is piped into `head` surviving to do that cleanup (EPIPE ignored), and starting a
// pcload server inside a pod namespace.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Program } from '../compiler/ir/types.js';
import { replaceTable, type NftDocument } from '../compiler/emit/nftables/schema.js';
import { destroyAll } from './dataplane-net.js';

/** bench/dataplane-load/pcload.c, from the sources or from dist/. */
export function loadSource(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [join(here, 'dataplane-load', 'pcload.c'), resolve(here, '..', '..', 'bench', 'dataplane-load', 'pcload.c')]) if (existsSync(p)) return p;
  throw new Error('bench/dataplane-load/pcload.c not found');
}

export const CT_TABLE = 'pcbench_ct';

/** Conntrack and nothing else: established/related accepted, invalid dropped, the rest accepted. */
export function ctOnlyDocument(): NftDocument {
  const family = 'inet' as const;
  const table = CT_TABLE;
  return {
    nftables: [
      ...replaceTable(table),
      { add: { chain: { family, table, name: 'forward', type: 'filter', hook: 'forward', prio: 0, policy: 'accept' } } },
      { add: { rule: { family, table, chain: 'forward', expr: [{ match: { op: 'in', left: { ct: { key: 'state' } }, right: ['established', 'related'] } }, { accept: null }] } } },
      { add: { rule: { family, table, chain: 'forward', expr: [{ match: { op: 'in', left: { ct: { key: 'state' } }, right: 'invalid' } }, { drop: null }] } } },
      { add: { rule: { family, table, chain: 'forward', expr: [{ accept: null }] } } },
    ],
  };
}

/** No policy at all: what our table is for a cluster before any policy exists. */
export const NO_POLICIES: Program = { formatVersion: 1, groups: [], policies: [], rules: [] };

/**
 * Ignores EPIPE on stdout and stderr. Node ignores SIGPIPE, so a reader that went away (`| head`)
 * surfaces as an 'error' event on the stream; unhandled, it killed the process before its
 * `finally` removed the pcbench-* namespaces. Output after that is lost, the cleanup still runs.
 */
let surviving = false;
export function surviveClosedOutput(): void {
  if (surviving) return;
  surviving = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
    });
  }
}

export interface BenchSession {
  /** A private scratch directory, removed at the end. */
  readonly work: string;
  /** Starts `pcload serve PORT 2` in a pod namespace (optionally behind a taskset prefix); resolves once it is ready. */
  startServer(netns: string, pcload: string, port: number, pin: readonly string[]): Promise<void>;
  /** Stops the servers by PID, removes the namespaces and the scratch directory (once). */
  close(): Promise<void>;
}

export async function openBenchSession(prefix: string, log: (msg: string) => void): Promise<BenchSession> {
  surviveClosedOutput();
  const work = await mkdtemp(join(tmpdir(), prefix));
  const servers: ChildProcess[] = [];
  let cleaning: Promise<void> | undefined;
  const close = () =>
    (cleaning ??= (async () => {
      for (const s of servers) if (s.exitCode === null && s.signalCode === null && s.pid !== undefined) process.kill(s.pid, 'SIGKILL');
      await destroyAll();
      await rm(work, { recursive: true, force: true });
    })());
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: cleaning up`);
    void close().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const startServer = (netns: string, pcload: string, port: number, pin: readonly string[]) =>
    new Promise<void>((resolveReady, reject) => {
      const child = spawn('ip', ['netns', 'exec', netns, ...pin, pcload, 'serve', String(port), '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
      servers.push(child);
      let err = '';
      const timer = setTimeout(() => reject(new Error(`server in ${netns} not ready`)), 10_000);
      child.stderr!.on('data', (d) => (err += d));
      child.stdout!.on('data', (d) => {
        if (String(d).includes('ready')) {
          clearTimeout(timer);
          resolveReady();
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server in ${netns} exited (${code}): ${err}`));
      });
    });
  return { work, startServer, close };
}
