// Flushing the established flows a policy change denies.
//
// The forward chain accepts `ct state established,related` before any lookup (ruleset.ts), so a
// connection established before a change that denies it would keep flowing. After the engine
// applied a change (full replace or element diff) it calls `DeniedFlowFlusher.afterApply`; when
// the change can deny something (diffCanDeny, conntrack-flush-judge.ts: a diff that only adds
// allows or removes isolation is skipped) a flush starts (coalesced: one pending flush serves any
// number of changes before it runs). It lists and judges beside the engine's queue, so pod
// changes do not wait for it, and deletes on the queue only if the policy it judged with is
// still loaded (else it judges again): no entry is deleted by a stale verdict.
//
// A flush, inside the node netns only (`nsenter --net`, argument arrays, never a shell):
//   1. `ip -j route show table local` (v4 and v6): addresses delivered locally. A flow from or to
//      one of them (after DNAT) goes through input/output, never through the forward chain: kept.
//   2. `conntrack -L -o extended` (streamed, at most maxEntries lines, timeoutMs): each entry's
//      original tuple as the forward chain sees its first packet: source = original source,
//      destination = the reply tuple's source (the address after DNAT: kube-proxy's service
//      DNAT happens in prerouting, before forward), dport = the reply tuple's source port.
//   3. FlowJudge.accepts (the loaded elements, indexed): false = the table would drop a NEW
//      packet of this flow -> deleted; true or undefined (cannot tell) -> kept.
//   4. `conntrack -R FILE` (a private file), one process for all deletes; conntrack -D dumps the
//      table once per line, so denied entries are grouped into one line per judged key (original
//      source, reply source, protocol, reply source port, zone: every entry matching it has the
//      same verdict, so only denied entries match) — see deleteLines.
// A deleted TCP entry: the next packet of the initiator is picked up as NEW (or INVALID with
// nf_conntrack_tcp_loose=0) and dropped by the policy; a packet of the responder is a new TCP
// flow without SYN, which the ruleset drops (compiler/emit/nftables/ruleset.ts).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { cidrRange, parseCidr, parseIp, type Family } from '../../compiler/ir/cidr.js';
import type { Membership, MembershipDiff } from '../../compiler/emit/membership.js';
import type { LoadedArtifact } from './artifact.js';
import { diffCanDeny, FlowJudge } from './conntrack-flush-judge.js';
import { netnsArgv, type NetnsTarget } from './nft-exec.js';

export { diffCanDeny, FlowJudge } from './conntrack-flush-judge.js';

/** One conntrack entry (`conntrack -L -o extended`). */
export interface ConntrackEntry {
  family: Family;
  /** l4proto number and conntrack's name for it (tcp, udp, sctp, dccp, udplite, icmp, icmpv6, unknown) */
  proto: number;
  protoName: string;
  orig: TupleHalf;
  reply: TupleHalf;
  /** conntrack zone (0 = default); undefined when directional zones are used */
  zone?: number;
  directionalZone: boolean;
}

export interface TupleHalf {
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
}

const PORT_PROTOS = new Set(['tcp', 'udp', 'sctp', 'dccp', 'udplite']);
const ICMP_PROTOS = new Set(['icmp', 'icmpv6']);
const TUPLE_KEYS = new Set(['src', 'dst', 'sport', 'dport', 'type', 'code', 'id']);

/**
 * Parses one line of `conntrack -L -o extended`:
 * `ipv4 2 tcp 6 431999 ESTABLISHED src=A dst=B sport=P dport=Q src=B dst=A sport=Q dport=P [ASSURED] mark=0 zone=3 use=1`.
 * The first src/dst/ports (or ICMP type/code/id) are the original tuple, the second the reply.
 */
export function parseConntrackLine(line: string): ConntrackEntry | undefined {
  const tokens = line.trim().split(/\s+/);
  if (tokens.length < 6) return undefined;
  const family = tokens[0] === 'ipv4' ? 4 : tokens[0] === 'ipv6' ? 6 : undefined;
  if (!family) return undefined;
  const protoName = tokens[2];
  const proto = Number(tokens[3]);
  if (!Number.isInteger(proto) || proto < 0 || proto > 255) return undefined;
  const halves: Array<Record<string, string>> = [{}, {}];
  let zone: number | undefined = 0;
  let directionalZone = false;
  for (const t of tokens.slice(4)) {
    const eq = t.indexOf('=');
    if (eq <= 0) continue;
    const k = t.slice(0, eq);
    const v = t.slice(eq + 1);
    if (k === 'zone') zone = Number(v);
    else if (k === 'zone-orig' || k === 'zone-reply') directionalZone = true;
    else if (TUPLE_KEYS.has(k)) {
      if (halves[0][k] === undefined) halves[0][k] = v;
      else if (halves[1][k] === undefined) halves[1][k] = v;
    }
  }
  if (directionalZone) zone = undefined;
  const half = (h: Record<string, string>): TupleHalf | undefined => {
    if (!h.src || !h.dst) return undefined;
    const num = (k: string) => (h[k] === undefined ? undefined : Number(h[k]));
    return { src: h.src, dst: h.dst, sport: num('sport'), dport: num('dport'), icmpType: num('type'), icmpCode: num('code'), icmpId: num('id') };
  };
  const orig = half(halves[0]);
  const reply = half(halves[1]);
  if (!orig || !reply) return undefined;
  return { family, proto, protoName, orig, reply, zone, directionalZone };
}

/** The packet the forward chain judges for this entry: (source, destination after DNAT, proto, dport). */
export function forwardTuple(e: ConntrackEntry): { src: string; dst: string; proto: number; port: number | undefined; icmpv6Type?: number } | undefined {
  if (PORT_PROTOS.has(e.protoName)) {
    if (e.reply.sport === undefined) return undefined;
    return { src: e.orig.src, dst: e.reply.src, proto: e.proto, port: e.reply.sport };
  }
  if (ICMP_PROTOS.has(e.protoName)) return { src: e.orig.src, dst: e.reply.src, proto: e.proto, port: undefined, icmpv6Type: e.protoName === 'icmpv6' ? e.orig.icmpType : undefined };
  return undefined;
}

/**
 * `conntrack -R` lines deleting the denied entries. conntrack -D dumps the whole table once per
 * line (and filters in userspace), so lines must be few: entries of a port protocol are grouped
 * by what the forward chain judges — original source, reply source (the destination after DNAT),
 * protocol, reply source port (the destination port after DNAT) — and zone: every entry matching
 * such a filter has the same verdict, so a group's line deletes denied entries only, whatever
 * their source port or pre-DNAT destination. When the policy denies the pair every port of the
 * protocol (`everyPort`), the reply port is left out too: one line for all of the pair's entries.
 * ICMP entries get one exact line each.
 */
export function deleteLines(denied: readonly ConntrackEntry[], everyPort: (e: ConntrackEntry) => boolean = () => false): string[] {
  const lines = new Set<string>();
  for (const e of denied) {
    if (PORT_PROTOS.has(e.protoName)) {
      const port = everyPort(e) ? [] : ['--reply-port-src', String(e.reply.sport)];
      lines.add(['-D', '-f', e.family === 4 ? 'ipv4' : 'ipv6', '-p', e.protoName, '-s', e.orig.src, '-r', e.reply.src, ...port, '-w', String(e.zone ?? 0)].join(' '));
    } else lines.add(deleteLine(e));
  }
  return [...lines];
}

/** A `conntrack -R` line deleting exactly this entry (whole original and reply tuple, zone). */
export function deleteLine(e: ConntrackEntry): string {
  const a = ['-D', '-f', e.family === 4 ? 'ipv4' : 'ipv6', '-p', e.protoName, '-s', e.orig.src, '-d', e.orig.dst, '-r', e.reply.src, '-q', e.reply.dst];
  if (PORT_PROTOS.has(e.protoName)) {
    a.push('--sport', String(e.orig.sport), '--dport', String(e.orig.dport), '--reply-port-src', String(e.reply.sport), '--reply-port-dst', String(e.reply.dport));
  } else if (ICMP_PROTOS.has(e.protoName)) {
    const p = e.protoName === 'icmp' ? '--icmp' : '--icmpv6';
    a.push(`${p}-type`, String(e.orig.icmpType), `${p}-code`, String(e.orig.icmpCode), `${p}-id`, String(e.orig.icmpId));
  }
  a.push('-w', String(e.zone ?? 0));
  return a.join(' ');
}

/** Locally delivered ranges of a netns: `ip -j route show table local` (local, broadcast, anycast, multicast). */
export class LocalAddresses {
  private readonly ranges: Array<{ family: Family; first: bigint; last: bigint }> = [];

  constructor(routes: ReadonlyArray<{ type?: string; dst?: string }>) {
    for (const r of routes) {
      if (!r.dst || !['local', 'broadcast', 'anycast', 'multicast'].includes(r.type ?? '')) continue;
      const c = parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/${r.dst.includes(':') ? 128 : 32}`);
      if (c) this.ranges.push(cidrRange(c));
    }
    // multicast is never forwarded by the policy's hook path without multicast routing
    for (const m of ['224.0.0.0/4', 'ff00::/8']) {
      const c = parseCidr(m)!;
      this.ranges.push(cidrRange(c));
    }
  }

  has(text: string): boolean {
    const ip = parseIp(text);
    if (!ip) return false;
    return this.ranges.some((r) => r.family === ip.family && r.first <= ip.value && ip.value <= r.last);
  }
}

export interface FlushReport {
  /** entries listed */
  listed: number;
  /** entries judged (forwarded, a protocol the tuple can be judged for) */
  checked: number;
  /** entries the new policy denies */
  denied: number;
  /** entries conntrack reported deleted */
  deleted: number;
  /** `-D` lines given to conntrack (each one dump of the table) */
  deleteLines: number;
  /** entries kept because they are local (input/output) traffic */
  local: number;
  /** entries kept because the verdict cannot be told from the tuple (protocol, directional zones) */
  unjudged: number;
  /** the listing stopped at maxEntries, or the delete lines at maxDeleteLines */
  truncated: boolean;
  durationMs: number;
  /** of which listing and judging, and deleting */
  listMs: number;
  deleteMs: number;
}

export interface FlushTotals {
  runs: number;
  skipped: number;
  checked: number;
  flushed: number;
  errors: number;
}

export interface ConntrackFlusherOptions {
  target: NetnsTarget;
  log(msg: string): void;
  /** path of the conntrack tool; default `conntrack` on PATH (Debian package conntrack) */
  conntrack?: string;
  /** stop reading the listing after this many entries (default 1,000,000) */
  maxEntries?: number;
  /** per command (default 30 s; the delete batch gets 4x) */
  timeoutMs?: number;
  /** pause between a change and the flush it starts, coalescing bursts (ms; default 100) */
  delayMs?: number;
  /** at most this many `-D` lines per flush (each dumps the table once; default 5000) */
  maxDeleteLines?: number;
  /** a private directory for the delete batch file (conntrack cannot read /dev/stdin from Node's socket stdin); default a temp dir */
  scratchDir?: string;
}


interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  error?: string;
}

/** Runs conntrack / ip inside one netns (nsenter --net, argument arrays), tied to our life. */
export class NetnsCommands {
  constructor(private readonly target: NetnsTarget) {}

  argv(cmd: readonly string[]): [string, string[]] {
    return netnsArgv(this.target, cmd);
  }

  /** Runs to completion; `onLine` (if given) gets stdout line by line and may return false to stop (the child is then killed by PID). */
  run(cmd: readonly string[], options: { input?: string; timeoutMs?: number; onLine?: (line: string) => boolean } = {}): Promise<Ran> {
    const [file, args] = this.argv(cmd);
    return new Promise((resolve) => {
      const child = spawn(file, args, { stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let error: string | undefined;
      let stopped = false;
      const timer = setTimeout(() => {
        error = `timed out after ${options.timeoutMs ?? 30_000} ms`;
        child.kill('SIGKILL');
      }, options.timeoutMs ?? 30_000);
      child.on('error', (e) => (error = e.message));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        if (stderr.length < 64_000) stderr += d;
      });
      if (options.onLine) {
        const rl = createInterface({ input: child.stdout! });
        rl.on('line', (line) => {
          if (stopped) return;
          if (!options.onLine!(line)) {
            stopped = true;
            child.kill('SIGKILL');
            rl.close();
          }
        });
      } else {
        child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      }
      if (options.input !== undefined) {
        child.stdin!.on('error', () => undefined);
        child.stdin!.end(options.input);
      }
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: stopped ? 0 : code, stdout, stderr, error });
      });
    });
  }
}

/** The state a flush judges with: what the engine loaded last. */
export interface LoadedPolicy {
  artifact: LoadedArtifact;
  /** undefined: the artifact's snapshot elements are loaded */
  membership?: Membership;
}

export interface ApplyEvent {
  kind: 'full' | 'diff';
  /** for a diff: the element changes and the membership after them */
  diff?: MembershipDiff;
  next?: Membership;
}

export interface FlusherHooks {
  /** runs an operation on the engine's queue (serialized with every kernel change) */
  enqueue(op: () => Promise<void>): Promise<void>;
  /** what is loaded now (undefined: nothing) */
  current(): LoadedPolicy | undefined;
}

/** Judges and deletes the conntrack entries of the node netns that the loaded policy denies. */
export class ConntrackFlusher {
  readonly totals: FlushTotals = { runs: 0, skipped: 0, checked: 0, flushed: 0, errors: 0 };
  last?: FlushReport & { at: Date; reason: string };
  lastError?: string;
  private readonly cmd: NetnsCommands;
  private pending = false;
  private draining?: Promise<void>;
  private pendingReasons = new Set<string>();
  private missingTool = false;
  private seq = 0;
  private scratchDir?: string;

  constructor(private readonly o: ConntrackFlusherOptions) {
    this.cmd = new NetnsCommands(o.target);
  }

  /**
   * Called after the kernel accepted a batch; starts a flush unless the change provably denies
   * nothing new. Listing and judging run beside the engine's queue (they take tens of ms of
   * process starts, and the next pod change must not wait for them); only the deletion runs on
   * the queue, and only if the policy it was judged with is still the loaded one — otherwise the
   * flush starts over with the new policy, so an entry is never deleted by a stale verdict.
   */
  afterApply(event: ApplyEvent, hooks: FlusherHooks): void {
    if (this.missingTool) return;
    if (event.kind === 'diff' && event.diff && event.next && !diffCanDeny(event.diff, event.next)) {
      this.totals.skipped++;
      return;
    }
    this.pendingReasons.add(event.kind === 'full' ? 'full replace' : 'element diff');
    this.pending = true;
    if (this.draining) return;
    // a short pause first: a burst of pod changes then costs one flush, and the changes
    // themselves do not share the CPU with conntrack and the judge
    this.draining = new Promise<void>((resolve) => setTimeout(resolve, this.o.delayMs ?? 100))
      .then(() => this.drain(hooks))
      .catch((err: Error) => this.o.log(`conntrack flush: ${err.message}`))
      .finally(() => {
        this.draining = undefined;
      });
  }

  /** Resolves when no flush is running or pending (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(hooks: FlusherHooks): Promise<void> {
    while (this.pending) {
      this.pending = false;
      const reason = [...this.pendingReasons].join(', ');
      this.pendingReasons.clear();
      const judged = hooks.current();
      if (!judged) return;
      await this.flush(judged, reason, async (deleteStep) => {
        let ran = false;
        await hooks.enqueue(async () => {
          const now = hooks.current();
          if (!now || now.artifact !== judged.artifact || now.membership !== judged.membership) {
            // changed while judging: judge again with what is loaded now
            this.pending = true;
            this.pendingReasons.add('policy changed while judging');
            return;
          }
          await deleteStep();
          ran = true;
        });
        return ran;
      });
    }
  }

  /**
   * One flush against `policy`. Without `guard`, call it where no kernel change can interleave;
   * with it, the deletion runs through `guard`, which runs it (true) or not (false: the policy
   * changed meanwhile; nothing is deleted). Never throws.
   */
  async flush(policy: LoadedPolicy, reason = 'manual', guard?: (deleteStep: () => Promise<void>) => Promise<boolean>): Promise<FlushReport | undefined> {
    if (this.missingTool) return undefined;
    const t0 = performance.now();
    this.totals.runs++;
    try {
      const judge = policy.membership ? FlowJudge.fromMembership(policy.membership) : FlowJudge.fromElements(policy.artifact.snapshotElements, policy.artifact.table);
      const local = await this.localAddresses();
      const report: FlushReport = { listed: 0, checked: 0, denied: 0, deleted: 0, deleteLines: 0, local: 0, unjudged: 0, truncated: false, durationMs: 0, listMs: 0, deleteMs: 0 };
      const tList = performance.now();
      const max = this.o.maxEntries ?? 1_000_000;
      const denied: ConntrackEntry[] = [];
      const tool = this.o.conntrack ?? 'conntrack';
      const listing = await this.cmd.run([tool, '-L', '-o', 'extended'], {
        timeoutMs: this.o.timeoutMs,
        onLine: (line) => {
          const e = parseConntrackLine(line);
          if (!e) return true;
          report.listed++;
          const t = forwardTuple(e);
          if (local.has(e.orig.src) || local.has(e.reply.src)) report.local++;
          else if (!t || e.zone === undefined) report.unjudged++;
          else {
            report.checked++;
            const ok = judge.accepts(t.src, t.dst, t.proto, t.port, t.icmpv6Type);
            if (ok === false) denied.push(e);
            else if (ok === undefined) report.unjudged++;
          }
          if (report.listed >= max) {
            report.truncated = true;
            return false;
          }
          return true;
        },
      });
      if (listing.error && /ENOENT/.test(listing.error)) return this.noTool(tool, listing.error);
      if (listing.code !== 0 && !report.truncated) {
        if (/failed to execute|ENOENT/i.test(listing.stderr) && report.listed === 0) return this.noTool(tool, listing.stderr);
        throw new Error(`conntrack -L failed (${listing.error ?? `exit ${listing.code}`}): ${firstLines(listing.stderr)}`);
      }
      report.denied = denied.length;
      report.listMs = performance.now() - tList;
      const tDelete = performance.now();
      const deleteStep = async () => {
        const file = join(this.scratch(), `ct-delete-${process.pid}-${++this.seq}.txt`);
        // a pair denied on every port of the protocol: one line without the port
        const all = deleteLines(denied, (e) => judge.accepts(e.orig.src, e.reply.src, e.proto, undefined) === false);
        const maxLines = this.o.maxDeleteLines ?? 5000;
        const lines = all.slice(0, maxLines);
        if (all.length > maxLines) {
          report.truncated = true;
          this.o.log(`conntrack flush: ${all.length} delete filters, only the first ${maxLines} run; the other denied flows wait for the next flush`);
        }
        report.deleteLines = lines.length;
        writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
        try {
          const del = await this.cmd.run([tool, '-R', file], { timeoutMs: 4 * (this.o.timeoutMs ?? 30_000) });
          // conntrack prints each deleted entry on stdout
          report.deleted = del.stdout.split('\n').filter((l) => l.trim() !== '').length;
          this.totals.flushed += report.deleted;
          if (del.error || del.code !== 0) throw new Error(`conntrack -R failed (${del.error ?? `exit ${del.code}`}): ${firstLines(del.stderr)}`);
        } finally {
          rmSync(file, { force: true });
        }
      };
      if (denied.length > 0) {
        const ran = guard ? await guard(deleteStep) : (await deleteStep(), true);
        if (!ran) return undefined; // judged with a policy no longer loaded: the next round judges again
      }
      report.deleteMs = denied.length > 0 ? performance.now() - tDelete : 0;
      report.durationMs = performance.now() - t0;
      this.totals.checked += report.checked;
      this.last = { ...report, at: new Date(), reason };
      if (report.listed >= max) this.o.log(`conntrack flush: stopped reading after ${max} entries; later entries were not checked`);
      if (report.denied > 0 || report.truncated) {
        this.o.log(`conntrack flush (${reason}): ${report.checked} established flows checked, ${report.deleted} denied by the new policy deleted (${report.listed} listed, ${report.local} local, ${report.unjudged} not judged), ${report.durationMs.toFixed(1)} ms`);
      }
      return report;
    } catch (err) {
      this.totals.errors++;
      this.lastError = (err as Error).message;
      this.o.log(`conntrack flush (${reason}): ${(err as Error).message}`);
      return undefined;
    }
  }

  private scratch(): string {
    if (!this.scratchDir) {
      if (this.o.scratchDir) {
        mkdirSync(this.o.scratchDir, { recursive: true, mode: 0o700 });
        this.scratchDir = this.o.scratchDir;
      } else this.scratchDir = mkdtempSync(join(tmpdir(), 'policyc-ct-'));
    }
    return this.scratchDir;
  }

  private noTool(tool: string, why: string): undefined {
    this.missingTool = true;
    this.lastError = `${tool} not found`;
    this.o.log(`conntrack flush: cannot run ${tool} (${firstLines(why)}); established flows a change denies are not flushed (install the Debian package conntrack)`);
    return undefined;
  }

  private async localAddresses(): Promise<LocalAddresses> {
    const routes: Array<{ type?: string; dst?: string }> = [];
    for (const family of ['-4', '-6']) {
      const r = await this.cmd.run(['ip', family, '-j', 'route', 'show', 'table', 'local'], { timeoutMs: this.o.timeoutMs });
      // a netns without any local address has no local table yet
      if (r.code !== 0 && /FIB table does not exist/.test(r.stderr)) continue;
      if (r.code !== 0) throw new Error(`ip ${family} route show table local failed: ${firstLines(r.stderr || r.error || '')}`);
      const text = r.stdout.trim();
      // an empty family (IPv6 disabled) prints nothing
      if (text) routes.push(...(JSON.parse(text) as Array<{ type?: string; dst?: string }>));
    }
    return new LocalAddresses(routes);
  }

  status(): Record<string, unknown> {
    return {
      totals: { ...this.totals },
      last: this.last ? { ...this.last, at: this.last.at.toISOString() } : null,
      lastError: this.lastError ?? null,
    };
  }
}

function firstLines(s: string): string {
  return s.trim().split('\n').filter(Boolean).slice(0, 3).join(' | ');
}
