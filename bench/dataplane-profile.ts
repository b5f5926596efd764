// Where a new connection's CPU time goes, per ruleset: the topologies of
// bench/dataplane-throughput.ts (one node namespace per configuration, client pinned to CPU 0,
// server to CPU 1), the client opening connections for a few seconds per configuration while
// `perf record -e cpu-clock -a -g` samples both CPUs at a fixed period; then, per (CPU, symbol)
// or any other perf sort key, the sampled time divided by the connections opened: ns per
// connection, self time (--no-children), side by side for every configuration, largest
// differences first. Configurations are recorded in interleaved rounds (ct empty policyc ct
// empty policyc ...) and summed, so drift hits all of them alike.
//
//   npx tsx bench/dataplane-profile.ts [--configs ct,empty,policyc] [--compare FILE]
//     --seconds 4 --rounds 3 --workers 4 --period-us 50 --sort cpu,sym --top 60
//     --comms pcload,swapper,ksoftirqd/0,ksoftirqd/1 (only these processes; '' for every one)
//     --keep DIR (keep the perf.data files: perf report -i DIR/<config>-<round>.data ...)
//     --pods 50000 --policies 10000 --anps 4 --seed 42 (the throughput bench's defaults)
//
// Configurations: none, ct, empty, policyc (as in the throughput bench, node scope) and compare
// (a libnftables JSON document, e.g. an older build's table for the same flags). Needs root,
// perf, ip, nft, gcc; everything runs in namespaces named pcbench-<random>-*, removed on exit
// (also when stdout or stderr is a pipe closed early, e.g. `| head`: EPIPE is ignored).

import { runProcess } from '../dataplane/process.js';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { applyRuleset, kernelAvailable, run } from '../dataplane/nft/loader.js';
import { emitNftables } from '../compiler/emit/nftables/ruleset.js';
import type { NftDocument } from '../compiler/emit/nftables/schema.js';
import { buildBenchInputs } from './dataplane-policies.js';
import { benchTag, createTopology, type Topology } from './dataplane-net.js';
import { ctOnlyDocument, loadSource, NO_POLICIES, openBenchSession, surviveClosedOutput } from './dataplane-session.js';

type ConfigName = 'none' | 'ct' | 'empty' | 'policyc' | 'compare';
const ALL: readonly ConfigName[] = ['none', 'ct', 'empty', 'policyc', 'compare'];

function log(msg: string): void {
  process.stderr.write(`[dataplane-profile ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** Interrupt counts per (name, CPU) from /proc/interrupts: IPIs (RES, CAL, ...) and the rest. */
function interrupts(): Map<string, number> {
  const out = new Map<string, number>();
  const lines = readFileSync('/proc/interrupts', 'utf8').split('\n');
  const cpus = lines[0].trim().split(/\s+/).length;
  for (const line of lines.slice(1)) {
    const m = /^\s*([^:]+):\s+(.*)$/.exec(line);
    if (!m) continue;
    const fields = m[2].trim().split(/\s+/);
    for (let i = 0; i < cpus && i < fields.length; i++) if (/^\d+$/.test(fields[i])) out.set(`${m[1].trim()}/${i}`, Number(fields[i]));
  }
  return out;
}

/** Runs a command (dataplane/process.ts runProcess), resolving with its stdout; rejects on a non-zero exit. */
async function exec(file: string, args: readonly string[], timeoutMs: number): Promise<string> {
  const r = await runProcess(file, args, { timeoutMs });
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')}: exit ${r.code}: ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

async function main(): Promise<number> {
  surviveClosedOutput(); // `... | head` must not kill the run before its cleanup
  const { values } = parseArgs({
    options: {
      pods: { type: 'string', default: '50000' },
      policies: { type: 'string', default: '10000' },
      anps: { type: 'string', default: '4' },
      seed: { type: 'string', default: '42' },
      seconds: { type: 'string', default: '4' },
      rounds: { type: 'string', default: '3' },
      workers: { type: 'string', default: '4' },
      'period-us': { type: 'string', default: '50' },
      sort: { type: 'string', default: 'cpu,sym' },
      top: { type: 'string', default: '60' },
      configs: { type: 'string', default: 'ct,empty,policyc' },
      // only these processes (the load generator, and softirq work in idle or ksoftirqd context):
      // other work on the machine stays out of the figures
      comms: { type: 'string', default: 'pcload,swapper,ksoftirqd/0,ksoftirqd/1' },
      compare: { type: 'string' },
      keep: { type: 'string' },
      callgraph: { type: 'boolean', default: true },
    },
  });
  const pods = Number(values.pods);
  const policies = Number(values.policies);
  const anps = Number(values.anps);
  const seed = Number(values.seed);
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const workers = Number(values.workers);
  const periodNs = Math.round(Number(values['period-us']) * 1000);
  const top = Number(values.top);
  const configs = values.configs!.split(',').map((s) => s.trim()) as ConfigName[];
  if (values.compare && !configs.includes('compare')) configs.push('compare');
  for (const c of configs) if (!ALL.includes(c)) throw new Error(`unknown configuration ${c}`);
  if (configs.includes('compare') && !values.compare) throw new Error('--compare FILE is needed for the compare configuration');
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) throw new Error('run as root');
  const kernel = await kernelAvailable();
  if (!kernel.ok) throw new Error(`kernel dataplane not available: ${kernel.reason}`);

  const session = await openBenchSession('pcprof-', log);
  const work = session.work;
  const keep = values.keep;
  if (keep) mkdirSync(keep, { recursive: true });
  try {
    const pcload = join(work, 'pcload');
    const cc = await run('gcc', ['-O2', '-pthread', '-o', pcload, loadSource()], undefined, 60_000);
    if (!cc.ok) throw new Error(`gcc failed: ${cc.stderr}`);
    log(`generating ${pods} pods, ${policies} NetworkPolicies; compiling`);
    const { program, cluster, flow } = buildBenchInputs(pods, policies, anps, seed);
    const localPods = new Set(cluster.pods.filter((p) => p.node === flow.client.node || p.node === flow.server.node).map((p) => `${p.namespace}/${p.name}`));
    const docs: Partial<Record<ConfigName, NftDocument>> = {};
    if (configs.includes('ct')) docs.ct = ctOnlyDocument();
    if (configs.includes('policyc')) docs.policyc = emitNftables(program, cluster, { table: 'policyc', localPods }).document;
    if (configs.includes('empty')) docs.empty = emitNftables(NO_POLICIES, cluster, { table: 'policyc' }).document;
    if (values.compare) docs.compare = JSON.parse(readFileSync(values.compare, 'utf8')) as NftDocument;

    const tag = benchTag();
    const topo = new Map<ConfigName, Topology>();
    for (const [i, c] of configs.entries()) topo.set(c, await createTopology(tag, i, flow.clientIp, flow.serverIp));
    for (const c of configs) {
      const doc = docs[c];
      if (!doc) continue;
      const r = await applyRuleset(topo.get(c)!.node, doc);
      if (!r.ok) throw new Error(`loading ${c}: ${r.stderr}`);
      log(`${c}: ruleset loaded`);
    }
    for (const c of configs) {
      const ns = topo.get(c)!.server;
      await session.startServer(ns, pcload, flow.port, ['taskset', '-c', '1']);
    }
    const client = (c: ConfigName, args: string[]) => ['ip', 'netns', 'exec', topo.get(c)!.client, 'taskset', '-c', '0', pcload, ...args];
    for (const c of configs) {
      const probe = client(c, ['probe', flow.serverIp, String(flow.port), '1000']);
      const ok = (await exec(probe[0], probe.slice(1), 10_000)).trim();
      if (ok !== 'ok') throw new Error(`probe in ${c}: ${ok}`);
      const warm = client(c, ['conn', flow.serverIp, String(flow.port), '0.5', String(workers)]);
      await exec(warm[0], warm.slice(1), 30_000);
    }

    // ---- record
    const connections = new Map<ConfigName, number>(configs.map((c) => [c, 0]));
    const irqs = new Map<string, number>(); // config/IRQ/CPU -> interrupts during its recordings
    const files = new Map<ConfigName, string[]>(configs.map((c) => [c, []]));
    const dir = keep ?? work;
    for (let r = 0; r < rounds; r++) {
      const order = configs.map((_, i) => configs[(i + r) % configs.length]);
      const line: string[] = [];
      for (const c of order) {
        const file = join(dir, `${c}-${r}.data`);
        const cmd = client(c, ['conn', flow.serverIp, String(flow.port), String(seconds), String(workers)]);
        const irqBefore = interrupts();
        const out = await exec('perf', ['record', '-q', '-e', 'cpu-clock', '-c', String(periodNs), '-a', ...(values.callgraph ? ['-g'] : []), '-o', file, '--', ...cmd], (seconds + 60) * 1000);
        const j = JSON.parse(out.trim().split('\n').pop()!) as { connections: number; seconds: number };
        connections.set(c, connections.get(c)! + j.connections);
        for (const [k, v] of interrupts()) irqs.set(`${c}/${k}`, (irqs.get(`${c}/${k}`) ?? 0) + v - (irqBefore.get(k) ?? 0));
        files.get(c)!.push(file);
        line.push(`${c} ${Math.round(j.connections / j.seconds)} conn/s`);
      }
      log(`round ${r + 1}/${rounds}: ${line.join(', ')}`);
    }

    // ---- report: self time per sort key, ns per connection
    const perConn = new Map<string, Map<ConfigName, number>>();
    const totals = new Map<string, Map<ConfigName, number>>();
    const add = (m: Map<string, Map<ConfigName, number>>, key: string, c: ConfigName, v: number) => {
      let row = m.get(key);
      if (!row) m.set(key, (row = new Map()));
      row.set(c, (row.get(c) ?? 0) + v);
    };
    const sortKeys = values.sort!.split(',').filter((k) => k !== 'comm');
    const comms = new Set(values.comms ? values.comms.split(',') : []);
    const cpuIndex = sortKeys.indexOf('cpu');
    for (const c of configs) {
      for (const file of files.get(c)!) {
        // comm is always the first sort key and filtered here: `perf report --comms` with a sort
        // that lacks comm drops entries whose merged comm is another process's
        const rep = await exec('perf', ['report', '-i', file, '--no-children', '--sort', ['comm', ...sortKeys].join(','), '--stdio', '-n', '-g', 'none', '--percent-limit', '0', '-t', '|', '-q'], 300_000);
        for (const raw of rep.split('\n')) {
          const all = raw.split('|').map((s) => s.trim());
          if (all.length < 3 + sortKeys.length || !all[0].endsWith('%')) continue;
          if (comms.size > 0 && !comms.has(all[2])) continue;
          const parts = [all[0], all[1], ...all.slice(3)];
          const samples = Number(parts[1]);
          if (!Number.isFinite(samples)) continue;
          const key = parts.slice(2).join(' | ');
          const ns = (samples * periodNs) / connections.get(c)!;
          add(perConn, key, c, ns);
          add(totals, cpuIndex >= 0 ? `CPU ${parts[2 + cpuIndex]} total (${values.comms || 'all processes'}, idle included)` : 'total', c, ns);
        }
      }
    }
    const fmtNs = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(0));
    const header = ['ns per connection', ...configs, ...configs.slice(1).map((c) => `${c}-${configs[0]}`)];
    const rowsOf = (m: Map<string, Map<ConfigName, number>>, limit: number) => {
      const rows = [...m.entries()].map(([k, v]) => {
        const base = v.get(configs[0]) ?? 0;
        const diffs = configs.slice(1).map((c) => (v.get(c) ?? 0) - base);
        return { k, v, diffs, weight: Math.max(...diffs.map(Math.abs), ...configs.map((c) => (v.get(c) ?? 0) / 4)) };
      });
      rows.sort((a, b) => b.weight - a.weight);
      return rows.slice(0, limit).map((r) => [r.k, ...configs.map((c) => fmtNs(r.v.get(c))), ...r.diffs.map((d) => (d >= 0 ? '+' : '') + d.toFixed(0))]);
    };
    const widths = (rows: string[][]) => header.map((_, i) => Math.max(header[i].length, ...rows.map((r) => r[i].length)));
    const print = (rows: string[][]) => {
      const w = widths(rows);
      const fmtRow = (r: string[]) => r.map((x, i) => (i === 0 ? x.padEnd(w[i]) : x.padStart(w[i]))).join('  ');
      process.stdout.write(`${fmtRow(header)}\n${w.map((x) => '-'.repeat(x)).join('  ')}\n${rows.map(fmtRow).join('\n')}\n`);
    };
    const secondsTotal = rounds * seconds;
    process.stdout.write(`\nConnections: ${configs.map((c) => `${c} ${connections.get(c)} (${Math.round(connections.get(c)! / secondsTotal)}/s)`).join(', ')}; ${rounds} rounds x ${seconds} s; sample period ${periodNs / 1000} us; sort ${values.sort}.\n\n`);
    print(rowsOf(totals, 100));
    process.stdout.write('\n');
    const irqRows = new Map<string, Map<ConfigName, number>>();
    for (const [k, v] of irqs) {
      const [c, name, cpu] = k.split('/');
      add(irqRows, `${name} CPU ${cpu} (interrupts per 1000 connections)`, c as ConfigName, (v / connections.get(c as ConfigName)!) * 1000);
    }
    print(rowsOf(irqRows, 12));
    process.stdout.write('\n');
    print(rowsOf(perConn, top));
    return 0;
  } finally {
    await session.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`dataplane-profile: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
