// Runs nft for the policy engine in the node's network namespace: by name (/run/netns/NAME),
// by path (/proc/PID/ns/net), or the daemon's own namespace when none is given (production).
// Argument arrays only, never a shell. `nsenter --net` rather than `ip netns exec`: it skips the
// mount-namespace setup and /sys remount, which is most of the per-call cost on the one-pod
// path. A batch goes through a private file (nft reads /dev/stdin badly from Node's socket
// stdin), so one document is one kernel transaction: applied whole or not at all.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NftDocument } from '../../compiler/emit/nftables/schema.js';
import { ELEMENT_BATCH_FLAG, encodeElementBatch, type ElementTarget } from './element-batch.js';
import { NftHelper } from './nft-helper.js';
import { parseCounterLines, RULE_COUNTERS_FLAG, type CounterRow } from './rule-counters.js';

// `setpriv --pdeathsig KILL` (util-linux) ties nft's life to the daemon's: after a kill -9 of the
// daemon no orphaned nft commits a batch behind the back of the restarted daemon's resync (the
// batch itself is atomic either way). Used when setpriv is on PATH.
let setprivPath: string | null | undefined;
function setpriv(): string | null {
  if (setprivPath === undefined) {
    setprivPath = null;
    for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
      try {
        accessSync(join(dir, 'setpriv'), constants.X_OK);
        setprivPath = join(dir, 'setpriv');
        break;
      } catch {}
    }
  }
  return setprivPath;
}

export type NetnsTarget = { kind: 'current' } | { kind: 'named'; name: string } | { kind: 'path'; path: string };

const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;

export function netnsTarget(nameOrPath: string | undefined): NetnsTarget {
  if (!nameOrPath) return { kind: 'current' };
  if (!nameOrPath.includes('/')) {
    if (!NAME_RE.test(nameOrPath)) throw new Error(`invalid network namespace name ${JSON.stringify(nameOrPath)}`);
    return { kind: 'named', name: nameOrPath };
  }
  return { kind: 'path', path: nameOrPath };
}

export function describeNetns(t: NetnsTarget): string {
  return t.kind === 'current' ? 'the daemon netns' : t.kind === 'named' ? `netns ${t.name}` : `netns ${t.path}`;
}

export interface NftRun {
  ok: boolean;
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * A native helper built under dataplane/policy/<sub>/bin/<name>, from the sources or from dist/
 * (walking up); the environment variable `envVar` overrides it.
 */
export function locateNative(envVar: string, sub: string, name: string): string | undefined {
  if (process.env[envVar]) return process.env[envVar];
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    for (const candidate of [join(dir, sub, 'bin', name), join(dir, 'dataplane', 'policy', sub, 'bin', name)]) {
      try {
        if (statSync(candidate).isFile()) return candidate;
      } catch {}
    }
    dir = dirname(dir);
  }
  return undefined;
}

/** dataplane/policy/helper/bin/policyc-nft (POLICYC_NFT_HELPER overrides). */
export function locateNftHelper(): string | undefined {
  return locateNative('POLICYC_NFT_HELPER', 'helper', 'policyc-nft');
}

/**
 * `cmd` run inside the target netns (`nsenter --net`), as [file, argv]; with `tieToParent`
 * (default) wrapped in `setpriv --pdeathsig KILL` when available, so it dies with the daemon.
 */
export function netnsArgv(target: NetnsTarget, cmd: readonly string[], tieToParent = true): [string, string[]] {
  const inNs = target.kind === 'current' ? [...cmd] : ['nsenter', `--net=${target.kind === 'named' ? `/run/netns/${target.name}` : target.path}`, ...cmd];
  const sp = tieToParent ? setpriv() : null;
  return sp ? [sp, ['--pdeathsig', 'KILL', ...inNs]] : [inNs[0], inNs.slice(1)];
}

export interface RunnerOptions {
  /** path of policyc-nft; false: run `nft` per batch; default: locateNftHelper() */
  helper?: string | false;
  /**
   * Element batches on hash sets and pipapo maps over nfnetlink (applyElements). Default: on, unless the
   * environment says POLICYC_NFT_NETLINK_ELEMENTS=off (a switch for comparisons and for a kernel
   * that refuses the raw batches: everything then goes through libnftables, as before).
   */
  netlinkElements?: boolean;
  /**
   * Rule counters by the helper's nfnetlink rule dump (ruleCounters). Default: on, unless the
   * environment says POLICYC_NFT_RULE_COUNTERS=off (for comparisons: counters then come from a
   * terse listing, as before).
   */
  ruleCounterDump?: boolean;
  log?: (msg: string) => void;
}

export class NftRunner {
  private seq = 0;
  private readonly helper?: NftHelper;
  /**
   * A second policyc-nft process for the rule counter dump only (started on first use): the
   * kernel serializes every rule of the table for it (~20 ms at 5k pods / 1k policies), and on
   * the batch helper an element batch queued behind it waited that long.
   */
  private reader?: NftHelper;
  private closed = false;
  /** the policyc-nft binary (also run one-shot: listTableApart) */
  private readonly helperPath?: string;
  private readonly netlinkElements: boolean;
  private readonly ruleCounterDump: boolean;
  private readonly log: (msg: string) => void;
  /** the last rule counter dump failed (logged once until one succeeds again) */
  private counterDumpFailing = false;
  /** element batches sent over nfnetlink (applyElements' fast path) and through libnftables/nft */
  readonly elementBatches = { netlink: 0, libnftables: 0 };

  constructor(
    readonly target: NetnsTarget,
    /** a private directory for batch files (created 0700) */
    private readonly scratchDir: string,
    options: RunnerOptions = {},
  ) {
    mkdirSync(scratchDir, { recursive: true, mode: 0o700 });
    const path = options.helper === false ? undefined : (options.helper ?? locateNftHelper());
    this.log = options.log ?? (() => undefined);
    this.helperPath = path;
    if (path) this.helper = new NftHelper(this.wrap([path]), this.log);
    this.netlinkElements = options.netlinkElements ?? process.env.POLICYC_NFT_NETLINK_ELEMENTS !== 'off';
    this.ruleCounterDump = options.ruleCounterDump ?? process.env.POLICYC_NFT_RULE_COUNTERS !== 'off';
  }

  /** 'helper' (one long-lived libnftables process) or 'exec' (one nft per call) */
  get mode(): 'helper' | 'exec' {
    return this.helper && !this.helper.broken ? 'helper' : 'exec';
  }

  /** policyc-nft processes started so far (1 = never restarted); undefined: no helper, nft per call */
  get helperStarts(): number | undefined {
    return this.helper?.starts;
  }

  /** Through the helper; through `nft` when there is none or it cannot run at all. */
  private async viaHelper(flags: number, text: string, exec: () => Promise<NftRun>): Promise<NftRun> {
    if (this.helper && !this.helper.broken) {
      const r = await this.helper.request(flags, text);
      if (!this.helper.broken) return r;
    }
    return exec();
  }

  /** cmd run inside the target netns, tied to our life with setpriv when available */
  private wrap(cmd: string[]): [string, string[]] {
    return netnsArgv(this.target, cmd);
  }

  run(args: readonly string[], timeoutMs = 120_000): Promise<NftRun> {
    return this.runInNetns(['nft', ...args], timeoutMs);
  }

  /** One process (`cmd`, an argument array) in the target netns, tied to our life. */
  private runInNetns(cmd: string[], timeoutMs: number): Promise<NftRun> {
    const [file, argv] = this.wrap(cmd);
    return new Promise((resolve) => {
      const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', (err) => {
        clearTimeout(timer);
        resolve({ ok: false, code: null, stdout: '', stderr: `${file}: ${err.message}` });
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ ok: code === 0, code, stdout: Buffer.concat(out).toString('utf8'), stderr });
      });
    });
  }

  /** One batch (libnftables JSON): the kernel commits all of it or none of it. */
  apply(json: string): Promise<NftRun> {
    return this.viaHelper(0, json, () => this.applyExec(json));
  }

  /**
   * One element batch (adds/deletes only), one kernel transaction either way. When every command
   * touches a hash set/map or a concatenated interval map of `target` (element-batch.ts) and the helper runs, it goes to the
   * kernel over nfnetlink without libnftables, whose cache fetch (every chain of the table) is
   * most of a small batch's cost on a large table; otherwise through apply(). A failure is the
   * kernel's (or the helper's) answer, as from apply(): nothing was applied.
   */
  async applyElements(doc: NftDocument, target: ElementTarget | undefined): Promise<NftRun> {
    const body = target && this.netlinkElements && this.helper && !this.helper.broken ? encodeElementBatch(doc, target) : undefined;
    if (body && this.helper && (await this.helper.takesElementBatches())) {
      const r = await this.helper.request(ELEMENT_BATCH_FLAG, body);
      if (!this.helper.broken) {
        this.elementBatches.netlink++;
        return r;
      }
    }
    this.elementBatches.libnftables++;
    return this.apply(JSON.stringify(doc));
  }

  private async applyExec(json: string): Promise<NftRun> {
    const file = join(this.scratchDir, `batch-${process.pid}-${++this.seq}-${randomBytes(3).toString('hex')}.json`);
    writeFileSync(file, json, { mode: 0o600 });
    try {
      return await this.run(['-j', '-f', file]);
    } finally {
      try {
        unlinkSync(file);
      } catch {}
    }
  }

  /**
   * The first counter of each rule of table inet `table` (rows in the kernel's order; none when
   * the table does not exist), read by the helper over nfnetlink without libnftables
   * (rule-counters.ts): a few ms instead of a listing that fetches every set element (~340 ms at
   * 100,000) and leaves them in the helper's cache for its next element batch to free (~80 ms).
   * Undefined when that is not available (no helper, one built before it, a failed or malformed
   * answer, logged once; or turned off, RunnerOptions.ruleCounterDump): read them from
   * listTable() then.
   */
  async ruleCounters(table: string): Promise<CounterRow[] | undefined> {
    if (this.closed || !this.ruleCounterDump || !this.helper || this.helper.broken || !this.helperPath) return undefined;
    const reader = (this.reader ??= new NftHelper(this.wrap([this.helperPath]), this.log));
    if (reader.broken || !(await reader.takesRuleCounters())) return undefined;
    const r = await reader.request(RULE_COUNTERS_FLAG, Buffer.from(table, 'utf8'), 30_000);
    let why: string;
    if (r.ok) {
      try {
        const rows = parseCounterLines(r.stdout);
        this.counterDumpFailing = false;
        return rows;
      } catch (err) {
        why = (err as Error).message;
      }
    } else {
      why = r.stderr.trim() || `return code ${r.code}`;
    }
    if (!this.counterDumpFailing) this.log(`policyc-nft rule counter dump failed (${why}); reading the counters from a table listing`);
    this.counterDumpFailing = true;
    return undefined;
  }

  /**
   * A terse listTable() in a separate process, never the long-lived helper: a listing fetches
   * every set element (terse too), and the helper would keep them in its cache until its next
   * libnftables batch frees them first (~110 ms at 100,000 elements). `policyc-nft list-terse`
   * exits without freeing them (`nft` frees them at its exit: 485 vs 371 ms at 100,000); `nft -t`
   * when there is no helper or it does not know the mode (built before it: no output). Same
   * libnftables and flags, the same JSON as listTable() (fingerprints compare across both).
   */
  async listTableApart(table: string): Promise<{ nftables: Array<Record<string, any>> } | undefined> {
    if (this.helperPath && !this.helper?.broken) {
      const r = await this.runInNetns([this.helperPath, 'list-terse', table], 120_000);
      if (r.ok && r.stdout !== '') return JSON.parse(r.stdout) as { nftables: Array<Record<string, any>> };
      if (r.code === 1 && /No such file or directory/.test(r.stderr)) return undefined;
    }
    return this.listTableWith(table, () => this.run(['-t', '-j', 'list', 'table', 'inet', table]));
  }

  /** `nft -j list table inet NAME` (terse: without set/map elements). Undefined when the table does not exist. */
  listTable(table: string, terse: boolean): Promise<{ nftables: Array<Record<string, any>> } | undefined> {
    const exec = () => this.run([...(terse ? ['-t'] : []), '-j', 'list', 'table', 'inet', table]);
    return this.listTableWith(table, () => this.viaHelper(terse ? 1 : 0, JSON.stringify({ nftables: [{ list: { table: { family: 'inet', name: table } } }] }), exec));
  }

  private async listTableWith(table: string, list: () => Promise<NftRun>): Promise<{ nftables: Array<Record<string, any>> } | undefined> {
    const r = await list();
    if (!r.ok) {
      if (/No such file or directory/.test(r.stderr)) return undefined;
      throw new Error(`nft list table inet ${table} failed in ${describeNetns(this.target)}: ${r.stderr.trim()}`);
    }
    return JSON.parse(r.stdout) as { nftables: Array<Record<string, any>> };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.helper?.close(), this.reader?.close()]);
  }
}
