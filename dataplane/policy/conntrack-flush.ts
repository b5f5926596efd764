// Flushing the established flows a policy change denies.
//
// The forward chain accepts `ct state established,related` before any lookup (ruleset.ts), so a
// connection established before a change that denies it would keep flowing. After the engine
// applied a change (full replace or element diff) it calls `ConntrackFlusher.afterApply`; when
// the change can deny something (diffCanDeny, conntrack-flush-judge.ts: a diff that only adds
// allows or removes isolation is skipped) a flush starts (coalesced: one pending flush serves any
// number of changes before it runs). It lists and judges beside the engine's queue, so pod
// changes do not wait for it, and deletes on the queue only if the policy it judged with is
// still loaded (else it judges again): no entry is deleted by a stale verdict.
//
// A flush starts no process: it talks to one long-lived `policyc-conntrack serve`
// (conntrack/policyc-conntrack.c; its client ConntrackHelper is conntrack-helper.ts, the life
// cycle it shares with policyc-nft's client is helper-process.ts), started once per engine inside
// the node netns (`nsenter --net`, `setpriv --pdeathsig KILL`, argument arrays, never a shell), one
// request line at a time, each answer ended by one `=ok ...`/`=error ...` line. (Starting processes per
// flush cost the daemon's event loop a fork of the whole process each: ChildProcess.spawn took
// ~1 s of main-thread time over ~400 one-pod changes of bench/daemon-apply.ts, and made the
// one-pod apply's p90.) A flush:
//   1. `local`: the node netns's local routing table (v4 and v6, one RTM_GETROUTE dump):
//      addresses delivered locally. A flow from or to one of them (after DNAT) goes through
//      input/output, never through the forward chain: kept.
//   2. `list MAX` (ctnetlink through libnetfilter_conntrack; streamed, at most maxEntries lines,
//      timeoutMs): each entry's original tuple as the forward chain sees its first packet:
//      source = original source, destination = the reply tuple's source (the address after
//      DNAT: kube-proxy's service DNAT happens in prerouting, before forward), dport = the reply
//      tuple's source port.
//   3. FlowJudge.accepts (lookups in the loaded membership, or in the artifact's snapshot
//      elements): false = the table would drop a NEW packet of this flow -> deleted; true or
//      undefined (cannot tell) -> kept.
//   4. `delete N` and the N denied entries: each deleted by its exact original tuple and zone
//      (one IPCTNL_MSG_CT_DELETE each, a hash lookup in the kernel; no dump, so the cost is
//      linear in the denied entries).
// A helper that exits (killed, crashed) is logged and started again at the next flush; one that
// does not answer within the timeout is killed by PID (the flush fails). The engine stops it by
// PID when it closes. Without the helper (not built, or it cannot run) every flush fails loudly:
// log line, status lastError, errors counter; nothing is skipped silently.
// A deleted TCP entry: the next packet of the initiator is picked up as NEW (or INVALID with
// nf_conntrack_tcp_loose=0) and dropped by the policy; a packet of the responder is a new TCP
// flow without SYN, which the ruleset drops (compiler/emit/nftables/ruleset.ts).
import { cidrRange, parseCidr, parseIp, type Family } from '../../compiler/ir/cidr.js';
import type { Membership, MembershipDiff } from '../../compiler/emit/membership.js';
import type { LoadedArtifact } from './artifact.js';
import { diffCanDeny, FlowJudge } from './conntrack-flush-judge.js';
import { ConntrackHelper } from './conntrack-helper.js';
import { locateNative, type NetnsTarget } from './nft-exec.js';

export { diffCanDeny, FlowJudge } from './conntrack-flush-judge.js';
export { ConntrackHelper, parseAnswerLine, type HelperAnswer } from './conntrack-helper.js';

/** dataplane/policy/conntrack/bin/policyc-conntrack (POLICYC_CONNTRACK_HELPER overrides). */
export function locateConntrackHelper(): string | undefined {
  return locateNative('POLICYC_CONNTRACK_HELPER', 'conntrack', 'policyc-conntrack');
}

/** One conntrack entry (a `policyc-conntrack list` line). */
export interface ConntrackEntry {
  family: Family;
  /** l4proto number and its name (tcp, udp, sctp, dccp, udplite, icmp, icmpv6, unknown) */
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

const PROTO_NAMES: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp', 33: 'dccp', 136: 'udplite', 1: 'icmp', 58: 'icmpv6' };
const PORT_PROTOS = new Set(['tcp', 'udp', 'sctp', 'dccp', 'udplite']);
const ICMP_PROTOS = new Set(['icmp', 'icmpv6']);

/**
 * Parses one line of `policyc-conntrack list` (format in conntrack/policyc-conntrack.c):
 * `FAMILY PROTO ZONE OSRC ODST O1 O2 O3 RSRC RDST R1 R2 R3`, e.g.
 * `4 6 3 10.99.0.11 10.96.0.10 40000 8080 - 10.99.0.10 10.99.0.11 80 40000 -`. O1-O3 are the
 * ports (SPORT DPORT -) or the ICMP fields (TYPE CODE ID); ZONE `O/R` = directional zones.
 */
export function parseEntryLine(line: string): ConntrackEntry | undefined {
  const f = line.split(' ');
  if (f.length !== 13) return undefined;
  const family = f[0] === '4' ? 4 : f[0] === '6' ? 6 : undefined;
  const proto = Number(f[1]);
  if (!family || !/^\d{1,3}$/.test(f[1]) || proto > 255) return undefined;
  const protoName = PROTO_NAMES[proto] ?? 'unknown';
  if ((protoName === 'icmp' && family !== 4) || (protoName === 'icmpv6' && family !== 6)) return undefined;
  let zone: number | undefined;
  const directionalZone = f[2].includes('/');
  if (!directionalZone) {
    if (!/^\d{1,5}$/.test(f[2])) return undefined;
    zone = Number(f[2]);
  } else if (!/^\d{1,5}\/\d{1,5}$/.test(f[2])) return undefined;
  const num = (v: string) => (v === '-' ? undefined : /^\d{1,5}$/.test(v) ? Number(v) : NaN);
  const half = (src: string, dst: string, a: string, b: string, c: string): TupleHalf | undefined => {
    if (!src || !dst) return undefined;
    const [x, y, z] = [num(a), num(b), num(c)];
    if ([x, y, z].some((v) => Number.isNaN(v))) return undefined;
    return ICMP_PROTOS.has(protoName) ? { src, dst, icmpType: x, icmpCode: y, icmpId: z } : { src, dst, sport: x, dport: y };
  };
  const orig = half(f[3], f[4], f[5], f[6], f[7]);
  const reply = half(f[8], f[9], f[10], f[11], f[12]);
  if (!orig || !reply) return undefined;
  if (PORT_PROTOS.has(protoName) && (orig.sport === undefined || orig.dport === undefined)) return undefined;
  return { family, proto, protoName, orig, reply, zone, directionalZone };
}

/**
 * The `policyc-conntrack delete` line for exactly this entry: `FAMILY PROTO ZONE SRC DST A B C`
 * (original tuple and zone). Undefined for an entry that cannot be deleted by tuple (a protocol
 * without ports or ICMP fields, directional zones).
 */
export function entryLine(e: ConntrackEntry): string | undefined {
  if (e.zone === undefined) return undefined;
  const head = `${e.family} ${e.proto} ${e.zone} ${e.orig.src} ${e.orig.dst}`;
  if (PORT_PROTOS.has(e.protoName) && e.orig.sport !== undefined && e.orig.dport !== undefined) return `${head} ${e.orig.sport} ${e.orig.dport} -`;
  if (ICMP_PROTOS.has(e.protoName) && e.orig.icmpType !== undefined && e.orig.icmpCode !== undefined && e.orig.icmpId !== undefined) return `${head} ${e.orig.icmpType} ${e.orig.icmpCode} ${e.orig.icmpId}`;
  return undefined;
}

/** The last stdout line of `policyc-conntrack delete`: `deleted=N gone=N failed=N`. */
export function parseDeleteCounts(stdout: string): { deleted: number; gone: number; failed: number } | undefined {
  const m = /^deleted=(\d+) gone=(\d+) failed=(\d+)$/m.exec(stdout);
  return m ? { deleted: Number(m[1]), gone: Number(m[2]), failed: Number(m[3]) } : undefined;
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

/** Locally delivered ranges of a netns: the routes of its local table (local, broadcast, anycast, multicast). */
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
  /** denied entries the kernel deleted */
  deleted: number;
  /** denied entries already gone when the delete came (ENOENT: the flow ended meanwhile) */
  gone: number;
  /** denied entries whose delete failed (the flush then reports an error) */
  deleteFailed: number;
  /** entries kept because they are local (input/output) traffic */
  local: number;
  /** entries kept because the verdict cannot be told from the tuple (protocol, directional zones) */
  unjudged: number;
  /** the listing stopped at maxEntries */
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
  /** path of policyc-conntrack (conntrack/policyc-conntrack.c), run as `serve`; default locateConntrackHelper() at each flush */
  conntrack?: string;
  /** stop reading the listing after this many entries (default 1,000,000) */
  maxEntries?: number;
  /** per helper request (default 30 s; the delete batch gets 4x); past it the helper is killed by PID and the flush fails */
  timeoutMs?: number;
  /** pause between a change and the flush it starts, coalescing bursts (ms; default 100) */
  delayMs?: number;
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

/** A route line of `policyc-conntrack local` / the `local` request: `L TYPE ADDR/LEN`. */
export function parseRouteLine(line: string): { type: string; dst: string } | undefined {
  const f = line.split(' ');
  return f.length === 3 && f[0] === 'L' && /^[a-z]{1,16}$/.test(f[1]) && /^[0-9a-fA-F.:]{2,45}\/\d{1,3}$/.test(f[2]) ? { type: f[1], dst: f[2] } : undefined;
}

/** Judges and deletes the conntrack entries of the node netns that the loaded policy denies. */
export class ConntrackFlusher {
  readonly totals: FlushTotals = { runs: 0, skipped: 0, checked: 0, flushed: 0, errors: 0 };
  last?: FlushReport & { at: Date; reason: string };
  lastError?: string;
  private helper?: ConntrackHelper;
  /** processes started by helpers replaced since (policyc_helper_starts_total never goes down) */
  private replacedStarts = 0;
  private closed = false;
  private pending = false;
  private draining?: Promise<void>;
  private pendingReasons = new Set<string>();

  constructor(private readonly o: ConntrackFlusherOptions) {}

  /**
   * Starts the helper now (the engine calls it once when it starts), so the first flush does
   * not pay for the process start. Without a built helper it does nothing: each flush then
   * fails loudly.
   */
  start(): void {
    const path = this.o.conntrack ?? locateConntrackHelper();
    if (path && !this.closed) this.helperFor(path).start();
  }

  /** The helper for `path` (a helper built or moved after the start replaces the old one). */
  private helperFor(path: string): ConntrackHelper {
    if (this.helper?.path !== path) {
      this.replacedStarts += this.helper?.starts ?? 0;
      void this.helper?.close();
      this.helper = new ConntrackHelper(path, this.o.target, this.o.log);
    }
    return this.helper;
  }

  /**
   * Called after the kernel accepted a batch; starts a flush unless the change provably denies
   * nothing new. Listing and judging run beside the engine's queue (the listing and the judging
   * take milliseconds to a fraction of a second, and the next pod change must not wait for
   * them); only the deletion runs on the queue, and only if the policy it was judged with is
   * still the loaded one — otherwise the flush starts over with the new policy, so an entry is
   * never deleted by a stale verdict.
   */
  afterApply(event: ApplyEvent, hooks: FlusherHooks): void {
    if (this.closed) return;
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

  /** policyc-conntrack processes started so far, by every helper this flusher had */
  get helperStarts(): number {
    return this.replacedStarts + (this.helper?.starts ?? 0);
  }

  /** Resolves when no flush is running or pending (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /** Waits for a running flush, then stops the helper by PID. */
  async close(): Promise<void> {
    this.closed = true;
    await this.settled();
    await this.helper?.close();
  }

  private async drain(hooks: FlusherHooks): Promise<void> {
    while (this.pending && !this.closed) {
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
    const t0 = performance.now();
    this.totals.runs++;
    try {
      if (this.closed) throw new Error('the flusher is closed');
      // looked up at each flush: a helper built after the daemon started is used from then on
      const path = this.o.conntrack ?? locateConntrackHelper();
      if (!path) throw new Error('policyc-conntrack is not built (bash scripts/build-native.sh; needs libnetfilter-conntrack-dev, scripts/setup.sh): established flows a change denies are not flushed');
      const helper = this.helperFor(path);
      const timeoutMs = this.o.timeoutMs ?? 30_000;
      const ask = async (verb: string, text: string, onLine?: (line: string) => void, timeout = timeoutMs) => {
        try {
          return await helper.request(verb, text, { timeoutMs: timeout, onLine });
        } catch (err) {
          throw new Error(`${path} ${verb} failed (${(err as Error).message})`);
        }
      };
      const judge = policy.membership ? FlowJudge.fromMembership(policy.membership) : FlowJudge.fromElements(policy.artifact.snapshotElements, policy.artifact.table);
      const routes: Array<{ type: string; dst: string }> = [];
      let badRoutes = 0;
      await ask('local', 'local\n', (line) => {
        const r = parseRouteLine(line);
        if (r) routes.push(r);
        else badRoutes++;
      });
      // a route line we cannot read could hide a local address: refuse rather than misjudge
      if (badRoutes > 0) throw new Error(`${path} local: ${badRoutes} route lines did not parse`);
      const local = new LocalAddresses(routes);
      const report: FlushReport = { listed: 0, checked: 0, denied: 0, deleted: 0, gone: 0, deleteFailed: 0, local: 0, unjudged: 0, truncated: false, durationMs: 0, listMs: 0, deleteMs: 0 };
      const tList = performance.now();
      const max = this.o.maxEntries ?? 1_000_000;
      const denied: string[] = [];
      let unparsed = 0;
      const listing = await ask('list', `list ${max}\n`, (line) => {
        const e = parseEntryLine(line);
        if (!e) {
          unparsed++;
          return;
        }
        report.listed++;
        const t = forwardTuple(e);
        if (local.has(e.orig.src) || local.has(e.reply.src)) report.local++;
        else if (!t || e.zone === undefined) report.unjudged++;
        else {
          report.checked++;
          const ok = judge.accepts(t.src, t.dst, t.proto, t.port, t.icmpv6Type);
          const del = ok === false ? entryLine(e) : undefined;
          if (del) denied.push(del);
          else if (ok !== true) report.unjudged++;
        }
      });
      report.truncated = listing.fields.truncated === '1';
      if (unparsed > 0) this.o.log(`conntrack flush: ${unparsed} lines of ${path} list did not parse (kept)`);
      report.denied = denied.length;
      report.listMs = performance.now() - tList;
      const tDelete = performance.now();
      const deleteStep = async () => {
        const del = await ask('delete', `delete ${denied.length}\n${denied.join('\n')}\n`, undefined, 4 * timeoutMs);
        const counts = ['deleted', 'gone', 'failed'].map((k) => Number(del.fields[k]));
        if (counts.some((n) => !Number.isSafeInteger(n))) throw new Error(`${path} delete: unexpected counts ${JSON.stringify(del.fields)}`);
        const [deleted, gone, failed] = counts;
        report.deleted = deleted;
        report.gone = gone;
        report.deleteFailed = failed;
        this.totals.flushed += deleted;
        if (failed > 0) throw new Error(`${path} delete: ${failed} of ${denied.length} denied entries not deleted (${deleted} deleted, ${gone} already gone): ${del.reports.slice(0, 3).join(' | ')}`);
      };
      if (denied.length > 0) {
        const ran = guard ? await guard(deleteStep) : (await deleteStep(), true);
        if (!ran) return undefined; // judged with a policy no longer loaded: the next round judges again
      }
      report.deleteMs = denied.length > 0 ? performance.now() - tDelete : 0;
      report.durationMs = performance.now() - t0;
      this.totals.checked += report.checked;
      this.last = { ...report, at: new Date(), reason };
      if (report.truncated) this.o.log(`conntrack flush: stopped reading after ${max} entries; later entries were not checked`);
      if (report.denied > 0 || report.truncated) {
        this.o.log(`conntrack flush (${reason}): ${report.checked} established flows checked, ${report.deleted} denied by the new policy deleted (${report.gone} already gone; ${report.listed} listed, ${report.local} local, ${report.unjudged} not judged), ${report.durationMs.toFixed(1)} ms`);
      }
      return report;
    } catch (err) {
      this.totals.errors++;
      this.lastError = (err as Error).message;
      this.o.log(`conntrack flush (${reason}): ${(err as Error).message}`);
      return undefined;
    }
  }

  status(): Record<string, unknown> {
    return {
      totals: { ...this.totals },
      last: this.last ? { ...this.last, at: this.last.at.toISOString() } : null,
      lastError: this.lastError ?? null,
      helper: this.helper ? { path: this.helper.path, pid: this.helper.pid ?? null, starts: this.helper.starts } : null,
    };
  }
}
