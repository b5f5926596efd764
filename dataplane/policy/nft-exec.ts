// Runs nft for the policy engine in the node's network namespace: by name (/run/netns/NAME),
// by path (/proc/PID/ns/net), or the daemon's own namespace when none is given (production).
// Argument arrays only, never a shell. `nsenter --net` rather than `ip netns exec`: it skips the
// mount-namespace setup and /sys remount, which is most of the per-call cost on the one-pod
// path. A batch goes through a private file (nft reads /dev/stdin badly from Node's socket
// stdin), so one document is one kernel transaction: applied whole or not at all.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

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

export class NftRunner {
  private seq = 0;

  constructor(
    readonly target: NetnsTarget,
    /** a private directory for batch files (created 0700) */
    private readonly scratchDir: string,
  ) {
    mkdirSync(scratchDir, { recursive: true, mode: 0o700 });
  }

  private argv(args: readonly string[]): [string, string[]] {
    const cmd =
      this.target.kind === 'current'
        ? ['nft', ...args]
        : ['nsenter', `--net=${this.target.kind === 'named' ? `/run/netns/${this.target.name}` : this.target.path}`, 'nft', ...args];
    const sp = setpriv();
    return sp ? [sp, ['--pdeathsig', 'KILL', ...cmd]] : [cmd[0], cmd.slice(1)];
  }

  run(args: readonly string[], timeoutMs = 120_000): Promise<NftRun> {
    const [file, argv] = this.argv(args);
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

  /** One `nft -j -f` batch: the kernel commits all of it or none of it. */
  async apply(json: string): Promise<NftRun> {
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

  /** `nft -j list table inet NAME` (terse: without set/map elements). Undefined when the table does not exist. */
  async listTable(table: string, terse: boolean): Promise<{ nftables: Array<Record<string, any>> } | undefined> {
    const r = await this.run([...(terse ? ['-t'] : []), '-j', 'list', 'table', 'inet', table]);
    if (!r.ok) {
      if (/No such file or directory/.test(r.stderr)) return undefined;
      throw new Error(`nft list table inet ${table} failed in ${describeNetns(this.target)}: ${r.stderr.trim()}`);
    }
    return JSON.parse(r.stdout) as { nftables: Array<Record<string, any>> };
  }
}
