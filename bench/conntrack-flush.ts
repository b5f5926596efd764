// The denied-flow flush (dataplane/policy/conntrack-flush.ts), three ways, interleaved in the
// same run on the same entries:
//   cli:    the first path, kept here only: `conntrack -L -o extended` parsed and judged,
//           denied entries grouped into one `-D` line per judged key (conntrack -D dumps the
//           whole table once per line), one `conntrack -R FILE`;
//   exec:   the previous daemon path, kept here only: processes per flush, `ip -j route show
//           table all`, `policyc-conntrack list`, judged, `policyc-conntrack delete` with the
//           exact denied entries on stdin (one IPCTNL_MSG_CT_DELETE each, no dump);
//   served: ConntrackFlusher.flush as the daemon runs it now: requests to one long-lived
//           `policyc-conntrack serve` (local routes over rtnetlink, list, delete), no process
//           started per flush.
// Reported per case: wall-clock median and range of each path, and CPU ms per flush (this
// process plus the commands it ran, from /proc/self/stat and, for the served helper, its own
// /proc/PID/stat: less sensitive to other load).
// Cases (policy A of dataplane/policy/fixtures.ts: db takes TCP 80 from api pods only):
//   small:       3 entries, 2 denied (what a one-pod change usually meets: process starts);
//   all denied:  N entries api1 -> db on P ports other than 80 (N/P source ports each);
//   half denied: N/2 such entries plus N/2 entries api1 -> db:80 (allowed, must survive).
// Entries are inserted with `conntrack -R` (-I lines) before each timed flush (not timed).
// Runs as root inside one throwaway netns (pcct-bench-*), removed at the end, also on failure;
// the root namespace is never touched. Needs the conntrack tool and policyc-conntrack (built).
//   npx tsx bench/conntrack-flush.ts [--entries 20000] [--ports 500] [--reps 3]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { computeMembership } from '../compiler/emit/membership.js';
import { addNetns, deleteNetns, run } from '../dataplane/nft/loader.js';
import { parseArtifact } from '../dataplane/policy/artifact.js';
import { ClusterState } from '../dataplane/policy/cluster-state.js';
import { ConntrackFlusher, entryLine, FlowJudge, forwardTuple, LocalAddresses, locateConntrackHelper, parseDeleteCounts, parseEntryLine, type LoadedPolicy } from '../dataplane/policy/conntrack-flush.js';
import { clusterState, POD_IPS, POLICIES_A } from '../dataplane/policy/fixtures.js';
import { compileArtifact, policyKernel } from '../dataplane/policy/testing.js';
import { netnsArgv } from '../dataplane/policy/nft-exec.js';
import { runProcess, type ProcessResult } from '../dataplane/process.js';
import { fmt, median, ratio, table } from './table.js';

// ---- the previous path (conntrack CLI), for the baseline only

interface CliEntry {
  family: 4 | 6;
  proto: number;
  protoName: string;
  orig: { src: string; dst: string; sport?: number; dport?: number };
  reply: { src: string; dst: string; sport?: number; dport?: number };
  zone: number;
}

/** `conntrack -L -o extended` line -> entry (TCP/UDP only: all the bench inserts). */
function parseCliLine(line: string): CliEntry | undefined {
  const t = line.trim().split(/\s+/);
  if (t.length < 6 || (t[0] !== 'ipv4' && t[0] !== 'ipv6')) return undefined;
  const halves: Array<Record<string, string>> = [{}, {}];
  let zone = 0;
  for (const tok of t.slice(4)) {
    const eq = tok.indexOf('=');
    if (eq <= 0) continue;
    const k = tok.slice(0, eq);
    const v = tok.slice(eq + 1);
    if (k === 'zone') zone = Number(v);
    else if (['src', 'dst', 'sport', 'dport'].includes(k)) {
      if (halves[0][k] === undefined) halves[0][k] = v;
      else if (halves[1][k] === undefined) halves[1][k] = v;
    }
  }
  const half = (h: Record<string, string>) => ({ src: h.src, dst: h.dst, sport: Number(h.sport), dport: Number(h.dport) });
  return { family: t[0] === 'ipv4' ? 4 : 6, proto: Number(t[3]), protoName: t[2], orig: half(halves[0]), reply: half(halves[1]), zone };
}

/** One `-D` line per judged key (original source, reply source, proto, reply port, zone); no port when the pair is denied on every port. */
function cliDeleteLines(denied: readonly CliEntry[], everyPort: (e: CliEntry) => boolean): string[] {
  const lines = new Set<string>();
  for (const e of denied) {
    const port = everyPort(e) ? [] : ['--reply-port-src', String(e.reply.sport)];
    lines.add(['-D', '-f', e.family === 4 ? 'ipv4' : 'ipv6', '-p', e.protoName, '-s', e.orig.src, '-r', e.reply.src, ...port, '-w', String(e.zone)].join(' '));
  }
  return [...lines];
}

/** One command inside the bench's netns (nsenter --net, argument arrays): the old, process-per-step paths. */
type InNetns = (argv: readonly string[], options?: { input?: string; timeoutMs?: number }) => Promise<ProcessResult>;

function nonEmptyLines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

async function cliFlush(cmd: InNetns, judge: FlowJudge, dir: string): Promise<{ listed: number; denied: number; deleted: number; lines: number }> {
  // the previous flush also listed the local routes first (both paths do)
  for (const family of ['-4', '-6']) await cmd(['ip', family, '-j', 'route', 'show', 'table', 'local']);
  const denied: CliEntry[] = [];
  let listed = 0;
  const listing = await cmd(['conntrack', '-L', '-o', 'extended'], { timeoutMs: 120_000 });
  if (listing.code !== 0) throw new Error(`conntrack -L: ${listing.stderr}`);
  for (const line of nonEmptyLines(listing.stdout)) {
    const e = parseCliLine(line);
    if (!e) continue;
    listed++;
    const t = forwardTuple({ ...e, directionalZone: false });
    if (t && judge.accepts(t.src, t.dst, t.proto, t.port) === false) denied.push(e);
  }
  const lines = cliDeleteLines(denied, (e) => judge.accepts(e.orig.src, e.reply.src, e.proto, undefined) === false);
  const file = join(dir, 'ct-delete.txt');
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  const del = await cmd(['conntrack', '-R', file], { timeoutMs: 600_000 });
  if (del.code !== 0) throw new Error(`conntrack -R: ${del.stderr}`);
  return { listed, denied: denied.length, deleted: del.stdout.split('\n').filter((l) => l.trim()).length, lines: lines.length };
}

// ---- the previous daemon path (processes per flush), for comparison only

async function execFlush(cmd: InNetns, helper: string, judge: FlowJudge): Promise<{ listed: number; denied: number; deleted: number }> {
  const routes = await cmd(['ip', '-j', 'route', 'show', 'table', 'all']);
  if (routes.code !== 0) throw new Error(`ip route: ${routes.stderr}`);
  const local = new LocalAddresses((JSON.parse(routes.stdout.trim() || '[]') as Array<{ table?: string; type?: string; dst?: string }>).filter((r) => r.table === 'local'));
  const denied: string[] = [];
  let listed = 0;
  const listing = await cmd([helper, 'list'], { timeoutMs: 120_000 });
  if (listing.code !== 0) throw new Error(`${helper} list: ${listing.stderr}`);
  for (const line of nonEmptyLines(listing.stdout)) {
    const e = parseEntryLine(line);
    if (!e) continue;
    listed++;
    const t = forwardTuple(e);
    if (local.has(e.orig.src) || local.has(e.reply.src) || !t) continue;
    const del = judge.accepts(t.src, t.dst, t.proto, t.port, t.icmpv6Type) === false ? entryLine(e) : undefined;
    if (del) denied.push(del);
  }
  let deleted = 0;
  if (denied.length > 0) {
    const del = await cmd([helper, 'delete'], { input: `${denied.join('\n')}\n`, timeoutMs: 600_000 });
    const counts = parseDeleteCounts(del.stdout);
    if (!counts || counts.failed > 0) throw new Error(`${helper} delete: ${del.stdout} ${del.stderr}`);
    deleted = counts.deleted;
  }
  return { listed, denied: denied.length, deleted };
}

// ---- entries

/** `conntrack -R` lines inserting `denied` entries api1 -> db over `ports` ports (1000..) and `allowed` entries api1 -> db:80. */
function insertLines(denied: number, allowed: number, ports: number): string[] {
  const out: string[] = [];
  const ins = (sport: number, dport: number) =>
    out.push(`-I -p tcp -s ${POD_IPS.api1} -d ${POD_IPS.db} --sport ${sport} --dport ${dport} --state ESTABLISHED -t 600 -u SEEN_REPLY,ASSURED`);
  for (let i = 0; i < denied; i++) ins(20000 + Math.floor(i / ports), 1000 + (i % ports));
  for (let i = 0; i < allowed; i++) ins(20000 + i, 80);
  return out;
}

async function fill(netns: string, dir: string, lines: readonly string[]): Promise<void> {
  const ns = `--net=/run/netns/${netns}`;
  const flush = await run('nsenter', [ns, 'conntrack', '-F']);
  if (!flush.ok) throw new Error(`conntrack -F: ${flush.stderr}`);
  const file = join(dir, 'ct-insert.txt');
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  const r = await run('nsenter', [ns, 'conntrack', '-R', file], undefined, 300_000);
  if (!r.ok) throw new Error(`conntrack -R (insert): ${r.stderr}`);
}

async function count(netns: string): Promise<{ total: number; allowed: number }> {
  const r = await run('nsenter', [`--net=/run/netns/${netns}`, 'conntrack', '-L', '-o', 'extended'], undefined, 120_000);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('ipv'));
  return { total: lines.length, allowed: lines.filter((l) => / dport=80 /.test(l)).length };
}

/** CPU ms so far of a process (default: this one) plus its reaped children (the commands a flush runs): /proc/PID/stat utime..cstime. */
function cpuMs(pid: number | 'self' = 'self'): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields 14-17 (utime stime cutime cstime) are 11-14 after the command name; clock ticks of 10 ms
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 10;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { entries: { type: 'string', default: '20000' }, ports: { type: 'string', default: '500' }, reps: { type: 'string', default: '3' } } });
  const entries = Number(values.entries);
  const ports = Number(values.ports);
  const reps = Number(values.reps);
  const k = await policyKernel();
  if (!k.ok) {
    console.log(`conntrack-flush: skipped (${k.reason}); needs root, ip, nft, nsenter`);
    return;
  }
  const helper = locateConntrackHelper();
  if (!helper) throw new Error('policyc-conntrack is not built: bash scripts/build-native.sh');
  const version = await run('conntrack', ['--version']).catch(() => undefined);
  if (!version?.ok) throw new Error('the conntrack tool is missing (the baseline needs it): bash scripts/setup.sh');

  const parsed = parseArtifact(compileArtifact(POLICIES_A));
  if (!parsed.ok) throw new Error(parsed.reason);
  const state = new ClusterState();
  state.apply(clusterState());
  const policy: LoadedPolicy = { artifact: parsed.artifact, membership: computeMembership(parsed.artifact.program, state.cluster()) };
  const judge = FlowJudge.fromMembership(policy.membership!);

  const netns = `pcct-bench-${process.pid.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), 'pcct-bench-'));
  const cases = [
    // the common case after a one-pod change: a few entries, the cost is the process starts
    { name: 'small (3 entries, 2 denied)', denied: 2, allowed: 1, reps: Math.max(reps, 20) },
    { name: `all denied (${entries} entries, ${ports} ports)`, denied: entries, allowed: 0, reps },
    { name: `half denied (${entries} entries, ${entries / 2} denied on ${ports} ports)`, denied: entries / 2, allowed: entries / 2, reps },
  ];
  const rows: Array<Array<string | number>> = [];
  const notes: string[] = [];
  let flusher: ConntrackFlusher | undefined;
  await addNetns(netns);
  try {
    const target = { kind: 'named' as const, name: netns };
    const cmd: InNetns = (argv, options = {}) => runProcess(...netnsArgv(target, argv), { timeoutMs: 30_000, ...options });
    const logs: string[] = [];
    flusher = new ConntrackFlusher({ target, log: (m) => logs.push(m) });
    flusher.start(); // as the engine does when it starts: not timed
    type Path = 'cli' | 'exec' | 'served';
    const PATHS: Path[] = ['cli', 'exec', 'served'];
    for (const c of cases) {
      const lines = insertLines(c.denied, c.allowed, ports);
      const times: Record<Path, number[]> = { cli: [], exec: [], served: [] };
      const cpu: Record<Path, number> = { cli: 0, exec: 0, served: 0 };
      const own: Record<Path, number> = { cli: 0, exec: 0, served: 0 };
      for (let rep = 0; rep < c.reps; rep++) {
        // rotate which path goes first, so drift in machine load hits all alike
        const order = PATHS.map((_, i) => PATHS[(i + rep) % PATHS.length]);
        for (const path of order) {
          await fill(netns, dir, lines);
          const helperPid = (flusher.status().helper as { pid: number | null } | null)?.pid ?? undefined;
          const t0 = performance.now();
          const c0 = cpuMs() + (helperPid ? cpuMs(helperPid) : 0);
          const u0 = process.cpuUsage();
          let deleted: number;
          if (path === 'cli') {
            const r = await cliFlush(cmd, judge, dir);
            deleted = r.deleted;
            if (rep === 0) notes.push(`${c.name}: cli ${r.listed} listed, ${r.denied} denied, ${r.lines} -D lines, ${r.deleted} deleted`);
          } else if (path === 'exec') {
            const r = await execFlush(cmd, helper, judge);
            deleted = r.deleted;
            if (rep === 0) notes.push(`${c.name}: exec ${r.listed} listed, ${r.denied} denied, ${r.deleted} deleted`);
          } else {
            const r = await flusher.flush(policy, 'bench');
            if (!r) throw new Error(`flush failed: ${flusher.lastError}`);
            deleted = r.deleted;
            if (rep === 0) notes.push(`${c.name}: served ${r.listed} listed, ${r.denied} denied, ${r.deleted} deleted (list+judge ${fmt(r.listMs)} ms, delete ${fmt(r.deleteMs)} ms)`);
          }
          times[path].push(performance.now() - t0);
          const u = process.cpuUsage(u0);
          own[path] += (u.user + u.system) / 1000;
          cpu[path] += cpuMs() + (helperPid ? cpuMs(helperPid) : 0) - c0;
          const left = await count(netns);
          if (deleted !== c.denied || left.total !== c.allowed || left.allowed !== c.allowed) {
            throw new Error(`${path} ${c.name}: deleted ${deleted} (want ${c.denied}), ${left.total} left (want ${c.allowed} allowed)`);
          }
        }
      }
      const range = (xs: number[]) => `${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))}`;
      rows.push([
        c.name,
        median(times.cli),
        cpu.cli / c.reps,
        median(times.exec),
        range(times.exec),
        own.exec / c.reps,
        cpu.exec / c.reps,
        median(times.served),
        range(times.served),
        own.served / c.reps,
        cpu.served / c.reps,
        ratio(median(times.exec), median(times.served)),
        c.reps,
      ]);
    }
    const helperStatus = flusher.status().helper as { starts: number } | null;
    notes.push(`served: ${helperStatus?.starts ?? 0} helper process(es) started for every served flush of the run`);
    if (logs.some((l) => !/established flows checked/.test(l))) notes.push(...logs.filter((l) => !/established flows checked/.test(l)));
  } finally {
    await flusher?.close();
    await deleteNetns(netns);
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`conntrack flush: policy A (dataplane/policy/fixtures.ts), netns ${netns} (removed)`);
  console.log(
    table(
      ['flush (ms, list + judge + delete)', 'cli median', 'cli CPU', 'exec median', 'exec range', 'exec own CPU', 'exec CPU', 'served median', 'served range', 'served own CPU', 'served CPU', 'exec / served', 'runs'],
      rows,
    ),
  );
  console.log('  own CPU = mean CPU ms per flush of the bench process alone (process.cpuUsage: the judging, and the fork of each process started; the daemon\'s event loop pays this)');
  console.log('  CPU = mean CPU ms per flush of the bench process, the commands it ran and the served helper (10 ms ticks; the kernel\'s work in a netlink call counts too)');
  for (const n of notes) console.log(`  ${n}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
