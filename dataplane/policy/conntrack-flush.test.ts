// The denied-flow flush against the real kernel, only inside network namespaces this test creates
// (pcnft-<random>-*, removed in finally also on failure): long-lived TCP connections between
// pods through the node netns; a relabel (element diff) and then a new artifact (full replace)
// deny some of them; the denied ones stop passing data and lose their conntrack entry, the
// allowed ones keep working. With the flush turned off the denied connection keeps flowing (the
// problem the flush solves). Every flush of an engine goes to its one long-lived
// `policyc-conntrack serve` (same PID throughout); killed by PID, it is started again by the next
// flush, and the engine's close stops it. Without the policyc-conntrack helper every flush fails
// loudly (log, status, metrics) and the applies themselves still succeed.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { run } from '../nft/loader.js';
import { createPodNetwork, type PodNetwork } from '../nft/podnet.js';
import { computeMembership } from '../../compiler/emit/membership.js';
import { parseArtifact } from './artifact.js';
import { ClusterState } from './cluster-state.js';
import { ConntrackFlusher, locateConntrackHelper, parseEntryLine, type ConntrackEntry } from './conntrack-flush.js';
import { addNetns, deleteNetns } from '../nft/loader.js';
import { PolicyEngine } from './engine.js';
import { clusterState, POD_IPS, POLICIES_A, POLICIES_B, relabel } from './fixtures.js';
import { parseMetrics } from './metrics.js';
import { netnsArgv } from './nft-exec.js';
import { compileArtifact, ensureBuilt, netnsName, policyKernel } from './testing.js';
import { guardSuite } from '../../testkit/requirements.js';

const kernel = guardSuite('denied-flow conntrack flush in throwaway netns', await policyKernel());

const ensureConntrackHelper = () => ensureBuilt('conntrack', 'policyc-conntrack', locateConntrackHelper);

const A = compileArtifact(POLICIES_A);
const B = compileArtifact(POLICIES_B);

const ECHO_SERVER = `
const net = require('node:net');
// "push-on" makes the server write "pushed" every 150 ms on its own (a server that speaks first).
const server = net.createServer((s) => { s.on('error', () => {}); s.on('data', (d) => { if (String(d).includes('push-on')) setInterval(() => s.write('pushed\\n'), 150); else s.write(d); }); });
server.listen(Number(process.argv[1]), '0.0.0.0', () => console.log('ready'));
setTimeout(() => process.exit(0), 120000);
`;

// One TCP connection kept open; stdin "<token>" is written to it, echoed tokens are printed.
const CLIENT = `
const net = require('node:net'); const rl = require('node:readline');
const s = net.connect({ host: process.argv[1], port: Number(process.argv[2]) });
s.on('connect', () => console.log('connected ' + s.localPort));
s.on('error', (e) => console.log('error ' + e.code));
s.on('close', () => console.log('closed'));
let buf = '';
s.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\\n')) >= 0) { console.log('echo ' + buf.slice(0, i)); buf = buf.slice(i + 1); } });
rl.createInterface({ input: process.stdin }).on('line', (l) => s.write(l + '\\n'));
setTimeout(() => process.exit(0), 120000);
`;

class Conn {
  private seq = 0;
  private readonly lines: string[] = [];
  private readonly waiters = new Set<() => void>();
  localPort = 0;

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      this.lines.push(l);
      for (const w of this.waiters) w();
    });
  }

  private waitLine(match: (l: string) => boolean, timeoutMs: number): Promise<string | undefined> {
    return new Promise((resolve) => {
      const check = () => {
        const l = this.lines.find(match);
        if (l !== undefined) {
          this.waiters.delete(check);
          clearTimeout(timer);
          resolve(l);
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  async connected(): Promise<void> {
    const l = await this.waitLine((x) => x.startsWith('connected ') || x.startsWith('error '), 5000);
    if (!l?.startsWith('connected ')) throw new Error(`connection failed: ${l ?? 'timeout'}`);
    this.localPort = Number(l.split(' ')[1]);
  }

  /** Asks the server to push on its own; resolves once a push arrived. */
  async startPush(): Promise<void> {
    this.child.stdin!.write('push-on\n');
    if ((await this.waitLine((x) => x === 'echo pushed', 3000)) === undefined) throw new Error('no push arrived');
  }

  /** Pushes received so far. */
  pushes(): number {
    return this.lines.filter((x) => x === 'echo pushed').length;
  }

  /** Writes a token on the connection; true when it comes back within the timeout. */
  async ping(timeoutMs = 1500): Promise<boolean> {
    const token = `t${++this.seq}-${Math.random().toString(36).slice(2, 8)}`;
    this.child.stdin!.write(`${token}\n`);
    return (await this.waitLine((x) => x === `echo ${token}`, timeoutMs)) !== undefined;
  }
}

function spawnIn(ns: string, script: string, args: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
}

/** true while a process with this PID exists and is not a zombie */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Stops children by PID (SIGKILL to each child we spawned). */
function stopAll(children: readonly ChildProcess[]): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
}

async function entries(node: string): Promise<ConntrackEntry[]> {
  const [file, args] = netnsArgv({ kind: 'named', name: node }, [await ensureConntrackHelper(), 'list']);
  const r = await run(file, args);
  if (!r.ok) throw new Error(`policyc-conntrack list in ${node}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).map((l) => {
    const e = parseEntryLine(l);
    if (!e) throw new Error(`policyc-conntrack list printed a line that does not parse: ${l}`);
    return e;
  });
}

/** The entries of a connection (either orientation: a pickup the other way round counts too). */
function entriesOf(list: readonly ConntrackEntry[], conn: Conn, client: string, server: string): ConntrackEntry[] {
  return list.filter(
    (e) =>
      e.protoName === 'tcp' &&
      ((e.orig.src === client && e.orig.sport === conn.localPort && e.orig.dst === server) || (e.orig.dst === client && e.orig.dport === conn.localPort && e.orig.src === server)),
  );
}

describe.skipIf(kernel.skip)(kernel.title, () => {
  async function setup(flushDeniedFlows: boolean, body: (ctx: { net: PodNetwork; engine: PolicyEngine; connect: (from: string, to: keyof typeof POD_IPS) => Promise<Conn>; logs: string[] }) => Promise<void>): Promise<void> {
    await ensureConntrackHelper(); // the engine locates it at each flush
    const dir = await mkdtemp(join(tmpdir(), 'pcpol-ctflush-'));
    const children: ChildProcess[] = [];
    let net: PodNetwork | undefined;
    let engine: PolicyEngine | undefined;
    const logs: string[] = [];
    try {
      net = await createPodNetwork((['db', 'api1', 'api2', 'web1', 'other'] as const).map((k) => ({ key: k, ip: POD_IPS[k] })));
      for (const key of ['db', 'other']) {
        const child = spawnIn(net.pods.get(key)!, ECHO_SERVER, ['80']);
        children.push(child);
        await new Promise<void>((resolve, reject) => {
          child.stdout!.on('data', (d) => (String(d).includes('ready') ? resolve() : undefined));
          child.on('exit', (code) => reject(new Error(`echo server in ${key} exited (${code})`)));
        });
      }
      engine = await PolicyEngine.start({ stateDir: join(dir, 'state'), netns: net.node, setReady: () => undefined, log: (m) => logs.push(m), reconcileDelayMs: 0, persistDelayMs: 0, flushDeniedFlows });
      const n = net;
      const connect = async (from: string, to: keyof typeof POD_IPS) => {
        const child = spawnIn(n.pods.get(from)!, CLIENT, [POD_IPS[to], '80']);
        children.push(child);
        const c = new Conn(child);
        await c.connected();
        return c;
      };
      await body({ net, engine, connect, logs });
    } finally {
      await engine?.close().catch(() => undefined);
      stopAll(children);
      await net?.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('deletes the entries of established flows a relabel (element diff) or a new artifact (full replace) denies, and only those; one helper serves every flush and is restarted after a kill', async () => {
    let helperPid = 0;
    await setup(true, async ({ net, engine, connect, logs }) => {
      await engine.pushClusterState(clusterState());
      await engine.loadArtifact(A, 'test');
      await engine.idle();
      // A: api pods -> db:80 allowed, web -> other allowed
      const c1 = await connect('api1', 'db');
      const c2 = await connect('api2', 'db');
      const c3 = await connect('web1', 'other');
      for (const c of [c1, c2, c3]) expect(await c.ping()).toBe(true);
      expect(entriesOf(await entries(net.node), c1, POD_IPS.api1, POD_IPS.db)).toHaveLength(1);
      // db pushes to api1 on its own: after the flush, those server-to-client segments must not
      // start a new flow the other way round (the ruleset drops new TCP flows without SYN)
      await c1.startPush();

      // api1 becomes a web pod: the ANP denies web -> db (a one-pod element diff)
      const r = await engine.pushClusterState(relabel('api1', { role: 'web' }));
      expect(r.kind).toBe('diff');
      await engine.idle();
      expect(entriesOf(await entries(net.node), c1, POD_IPS.api1, POD_IPS.db)).toEqual([]);
      expect(await c1.ping()).toBe(false);
      const pushed = c1.pushes();
      await new Promise((r) => setTimeout(r, 1200));
      expect(c1.pushes(), 'server pushes after the flush revived the connection').toBe(pushed);
      expect(await c2.ping()).toBe(true);
      expect(await c3.ping()).toBe(true);
      // the retransmissions of the denied connection are dropped as new flows: still no entry
      expect(entriesOf(await entries(net.node), c1, POD_IPS.api1, POD_IPS.db)).toEqual([]);
      expect(entriesOf(await entries(net.node), c2, POD_IPS.api2, POD_IPS.db)).toHaveLength(1);
      const afterDiff = (engine.status() as any).conntrackFlush;
      expect(afterDiff.last).toMatchObject({ deleted: 1, denied: 1 });
      expect(afterDiff.last.checked).toBeGreaterThanOrEqual(3);
      expect(logs.some((l) => /conntrack flush \(element diff\): \d+ established flows checked, 1 denied by the new policy deleted/.test(l))).toBe(true);

      // B: db takes port 81 only (api2 -> db:80 now denied); web egress to 10.99.0.0/24 except db
      expect((await engine.loadArtifact(B, 'test')).kind).toBe('full');
      await engine.idle();
      expect(entriesOf(await entries(net.node), c2, POD_IPS.api2, POD_IPS.db)).toEqual([]);
      expect(await c2.ping()).toBe(false);
      expect(await c3.ping()).toBe(true);
      expect(entriesOf(await entries(net.node), c3, POD_IPS.web1, POD_IPS.other)).toHaveLength(1);

      const samples = parseMetrics(await engine.metrics());
      expect(samples.find((s) => s.name === 'policyc_conntrack_flushed_total')?.value).toBe(2);
      expect(samples.find((s) => s.name === 'policyc_conntrack_flush_errors_total')?.value).toBe(0);

      // every flush so far went to the one helper the engine started: no process per flush
      const helper = (engine.status() as any).conntrackFlush.helper;
      expect(helper).toMatchObject({ starts: 1, pid: expect.any(Number) });
      expect(processAlive(helper.pid)).toBe(true);
      // killed by PID: logged, started again by the next flush, which works
      process.kill(helper.pid, 'SIGKILL');
      for (let i = 0; i < 100 && (engine.status() as any).conntrackFlush.helper.pid === helper.pid; i++) await new Promise((r) => setTimeout(r, 20));
      expect(logs.some((l) => l.includes(`(pid ${helper.pid}) exited (SIGKILL)`) && l.includes('starting it again at the next flush')), logs.join('\n')).toBe(true);
      expect((await engine.loadArtifact(A, 'test')).kind).toBe('full');
      await engine.idle();
      const afterRestart = (engine.status() as any).conntrackFlush;
      expect(afterRestart.helper.starts).toBe(2);
      expect(afterRestart.helper.pid).not.toBe(helper.pid);
      expect(afterRestart.totals.errors).toBe(0);
      expect(afterRestart.last.reason).toBe('full replace');
      expect(logs.some((l) => /serve restarted \(pid \d+, start 2; the previous one \(pid \d+\) exited \(SIGKILL\)/.test(l)), logs.join('\n')).toBe(true);
      helperPid = afterRestart.helper.pid;
    });
    // the engine's close stopped it by PID
    expect(helperPid).toBeGreaterThan(0);
    expect(processAlive(helperPid)).toBe(false);
  });

  it('keeps entries from or to local addresses (IPv4 and IPv6), deletes the denied forwarded ones by exact tuple, keeps the allowed', async () => {
    const ns = netnsName('pcpol-ctl');
    let f: ConntrackFlusher | undefined;
    try {
      await addNetns(ns);
      const ip = async (args: string[]) => {
        const r = await run('ip', ['-n', ns, ...args]);
        if (!r.ok) throw new Error(`ip -n ${ns} ${args.join(' ')}: ${r.stderr.trim()}`);
      };
      await ip(['link', 'set', 'lo', 'up']);
      await ip(['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
      await ip(['addr', 'add', `${POD_IPS.api1}/32`, 'dev', 'v0']);
      await ip(['addr', 'add', 'fd00:99::11/128', 'dev', 'v0', 'nodad']);
      await ip(['link', 'set', 'v0', 'up']);
      await ip(['link', 'set', 'v1', 'up']);
      const conntrack = async (args: string[]) => {
        const [file, argv] = netnsArgv({ kind: 'named', name: ns }, ['conntrack', ...args]);
        const r = await run(file, argv).catch((err: Error) => ({ ok: false, stderr: `${err.message} (the conntrack tool: Debian package conntrack, scripts/setup.sh)` }));
        if (!r.ok) throw new Error(`conntrack ${args.join(' ')}: ${r.stderr.trim()}`);
      };
      const tcp = (src: string, dst: string, sport: number, dport: number) => ['-I', '-p', 'tcp', '-s', src, '-d', dst, '--sport', String(sport), '--dport', String(dport), '--state', 'ESTABLISHED', '-t', '300'];
      await conntrack(tcp(POD_IPS.api1, POD_IPS.db, 40000, 1000)); // denied port, but from a local address: kept
      await conntrack(tcp(POD_IPS.api2, POD_IPS.db, 40001, 1000)); // denied, forwarded: deleted
      await conntrack(tcp(POD_IPS.api2, POD_IPS.db, 40002, 80)); // allowed: kept
      await conntrack(tcp('fd00:99::20', 'fd00:99::11', 40003, 1000)); // to a local IPv6 address: kept
      const parsed = parseArtifact(A);
      if (!parsed.ok) throw new Error(parsed.reason);
      const state = new ClusterState();
      state.apply(clusterState());
      const logs: string[] = [];
      f = new ConntrackFlusher({ target: { kind: 'named', name: ns }, log: (m) => logs.push(m) });
      const report = await f.flush({ artifact: parsed.artifact, membership: computeMembership(parsed.artifact.program, state.cluster()) }, 'test');
      expect(report, `${f.lastError} ${logs.join('\n')}`).toMatchObject({ listed: 4, local: 2, checked: 2, denied: 1, deleted: 1, gone: 0, deleteFailed: 0 });
      const left = (await entries(ns)).map((e) => `${e.orig.src}:${e.orig.sport}`).sort();
      expect(left).toEqual([`${POD_IPS.api1}:40000`, `${POD_IPS.api2}:40002`, 'fd00:99::20:40003']);
      // a second flush: nothing left to delete, same helper
      const pid = (f.status() as any).helper.pid;
      expect(await f.flush({ artifact: parsed.artifact, membership: computeMembership(parsed.artifact.program, state.cluster()) }, 'test')).toMatchObject({ listed: 3, denied: 0, deleted: 0 });
      expect((f.status() as any).helper).toMatchObject({ pid, starts: 1 });
    } finally {
      await f?.close();
      await deleteNetns(ns);
    }
  });

  it('without the helper: every flush fails loudly (log line, status lastError, errors metric), the applies still succeed', async () => {
    const ns = netnsName('pcpol-ct');
    const dir = await mkdtemp(join(tmpdir(), 'pcpol-ctflush-'));
    let engine: PolicyEngine | undefined;
    const logs: string[] = [];
    try {
      await addNetns(ns);
      engine = await PolicyEngine.start({ stateDir: join(dir, 'state'), netns: ns, setReady: () => undefined, log: (m) => logs.push(m), reconcileDelayMs: 0, persistDelayMs: 0, conntrackHelperPath: '/nonexistent/policyc-conntrack' });
      await engine.pushClusterState(clusterState());
      expect((await engine.loadArtifact(A, 'test')).kind).toBe('full');
      await engine.idle();
      expect((await engine.loadArtifact(B, 'test')).kind).toBe('full');
      await engine.idle();
      const failures = logs.filter((l) => /^policy: conntrack flush \(full replace\): \/nonexistent\/policyc-conntrack local failed .*cannot run it; build it with bash scripts\/build-native\.sh/.test(l));
      expect(failures, logs.join('\n')).toHaveLength(2);
      const status = (engine.status() as any).conntrackFlush;
      expect(status.totals.errors).toBe(2);
      expect(status.lastError).toMatch(/\/nonexistent\/policyc-conntrack local failed/);
      expect(parseMetrics(await engine.metrics()).find((m) => m.name === 'policyc_conntrack_flush_errors_total')?.value).toBe(2);
    } finally {
      await engine?.close().catch(() => undefined);
      await deleteNetns(ns);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('with --flush-denied-flows off the denied connection keeps flowing (established flows are not re-judged)', async () => {
    await setup(false, async ({ net, engine, connect }) => {
      await engine.pushClusterState(clusterState());
      await engine.loadArtifact(A, 'test');
      const c1 = await connect('api1', 'db');
      expect(await c1.ping()).toBe(true);
      await engine.pushClusterState(relabel('api1', { role: 'web' }));
      await engine.idle();
      expect(await c1.ping()).toBe(true);
      expect(entriesOf(await entries(net.node), c1, POD_IPS.api1, POD_IPS.db)).toHaveLength(1);
      expect((engine.status() as any).conntrackFlush).toBeNull();
      expect(parseMetrics(await engine.metrics()).some((s) => s.name === 'policyc_conntrack_flushed_total')).toBe(false);
    });
  });
});
