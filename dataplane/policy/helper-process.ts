// The life cycle shared by the policy engine's long-lived helpers: policyc-nft (nft-helper.ts)
// and `policyc-conntrack serve` (conntrack-helper.ts). Starting a process per request costs the
// daemon a fork of its whole process on its event loop, so each helper is one process per node
// netns, started on demand, answering one request at a time. A process that dies is logged and
// started again by the next request; one that does not answer in time, or breaks its framing, is
// killed by PID and its request fails; close() stops it by PID (stopChild). The framing is each
// helper's own: a reader per process turns its stdout into answers.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { stopChild } from '../process.js';

/** The request waiting for its answer, as a reader sees it. */
export interface PendingRequest<C, T> {
  /** what the reader needs to know of the request (its verb, a callback for data lines, ...) */
  readonly context: C;
  /** the answer was read */
  resolve(value: T): void;
  /** the helper answered with an error (the process goes on) */
  reject(err: Error): void;
}

/** What a reader of a process's stdout can do. */
export interface ReaderControl<C, T> {
  /** the request waiting for its answer; undefined: none (anything read now breaks the framing) */
  pending(): PendingRequest<C, T> | undefined;
  /** the process broke the framing: it is killed by PID and its pending request fails with `why` */
  kill(why: string): void;
}

/** How one process ended. */
export interface HelperEnd {
  pid: number | undefined;
  /** what ended it and how it explained itself (stderr): the pending request fails with this */
  detail: string;
  /** we killed it (no answer in time, framing broken) */
  killed: boolean;
  /** answers read from all processes so far (0: it never answered) */
  answers: number;
  /** close() stopped it: an expected end */
  closing: boolean;
}

export interface HelperProcessOptions<C, T> {
  /** for logs and errors: 'policyc-nft', '/path/to/policyc-conntrack serve' */
  name: string;
  /** [file, args], already wrapped to run in the netns and die with us (netnsArgv) */
  argv: [string, string[]];
  log(msg: string): void;
  /** a reader of a new process's stdout (so each process's framing state starts empty) */
  reader(control: ReaderControl<C, T>): (chunk: Buffer) => void;
  /** sent at close besides closing stdin (default: none, the helper exits at end of input) */
  stopSignal?: NodeJS.Signals;
  /** after a process ended, before its pending request fails (to log what happens next) */
  onEnd?(end: HelperEnd): void;
}

/** The part of stderr kept for the log line of an exit. */
const STDERR_TAIL = 2000;

/** The request in flight, as this module holds it. */
interface InFlight<C, T> extends PendingRequest<C, T> {
  /** ends it without an answer (the process ended) */
  fail(err: Error): void;
  timer: NodeJS.Timeout;
}

interface Running<C, T> {
  child: ChildProcessWithoutNullStreams;
  stderr: string;
  pending?: InFlight<C, T>;
  ended: boolean;
}

export class HelperProcess<C, T> {
  /** processes started so far (1 = never restarted) */
  starts = 0;
  /** answers read so far, over all processes */
  answers = 0;
  private proc?: Running<C, T>;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** how the previous process ended (said again when the next one starts) */
  private previousEnd?: string;

  constructor(private readonly o: HelperProcessOptions<C, T>) {}

  /** PID of the running process (undefined: none running) */
  get pid(): number | undefined {
    return this.proc?.child.pid;
  }

  /** Starts the process unless it runs (a failure to run shows at the first request). */
  start(): void {
    if (this.closed) throw new Error(`${this.o.name}: closed`);
    if (this.proc) return;
    const [file, args] = this.o.argv;
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const proc: Running<C, T> = { child, stderr: '', ended: false };
    this.proc = proc;
    this.starts++;
    if (this.previousEnd) this.o.log(`${this.o.name} restarted (pid ${child.pid ?? '?'}, start ${this.starts}; the previous one ${this.previousEnd})`);
    const read = this.o.reader({ pending: () => proc.pending, kill: (why) => this.kill(proc, why) });
    child.stdout.on('data', (d: Buffer) => {
      if (!proc.ended) read(d);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (proc.stderr = (proc.stderr + d).slice(-STDERR_TAIL)));
    child.stdin.on('error', () => undefined); // EPIPE when it died: 'close' tells
    child.on('error', (err) => this.end(proc, `failed to start (${err.message})`, /ENOENT|EACCES/.test(err.message), false));
    child.on('close', (code, signal) => {
      // 127/126 or nsenter/setpriv "failed to execute": the file is not there or not runnable
      const cannotRun = code === 127 || code === 126 || /failed to execute|ENOENT|EACCES/i.test(proc.stderr);
      this.end(proc, `exited (${signal ?? `code ${code}`})`, cannotRun, false);
    });
  }

  /**
   * Sends one request (after the ones before it are answered). Resolves or rejects as the reader
   * decides; rejects when the process ends first, or does not answer within `timeoutMs` (it is
   * then killed by PID), or after close().
   */
  request(context: C, payload: string | Buffer, options: { timeoutMs: number; label: string }): Promise<T> {
    const run = this.chain.then(
      () =>
        new Promise<T>((resolve, reject) => {
          // no name: like the end details, callers say which helper (and which request) failed
          if (this.closed) return reject(new Error('closed'));
          this.start();
          const proc = this.proc!;
          const request: InFlight<C, T> = {
            context,
            resolve: (value) => this.settle(proc, request, true) && resolve(value),
            reject: (err) => this.settle(proc, request, true) && reject(err),
            fail: (err) => this.settle(proc, request, false) && reject(err),
            timer: setTimeout(() => this.kill(proc, `no answer to ${options.label} within ${options.timeoutMs} ms`), options.timeoutMs),
          };
          proc.pending = request;
          proc.child.stdin.write(payload);
        }),
    );
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Waits for the request in flight, then stops the process by PID; requests after this fail. */
  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
    const proc = this.proc;
    if (proc) await stopChild(proc.child, { signal: this.o.stopSignal });
  }

  /** Ends `request` once (false: it had ended already); `answered`: the helper answered it. */
  private settle(proc: Running<C, T>, request: InFlight<C, T>, answered: boolean): boolean {
    if (proc.pending !== request) return false;
    proc.pending = undefined;
    clearTimeout(request.timer);
    if (answered) this.answers++;
    return true;
  }

  /** Kills the process by PID; its pending request fails with `why`. */
  private kill(proc: Running<C, T>, why: string): void {
    if (proc.ended) return;
    const { child } = proc;
    this.o.log(`${this.o.name} (pid ${child.pid ?? '?'}): ${why}; killing it`);
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {}
    }
    this.end(proc, `was killed: ${why}`, false, true);
  }

  /** Once per process: forgets it, tells onEnd, fails its pending request. */
  private end(proc: Running<C, T>, why: string, cannotRun: boolean, killed: boolean): void {
    if (proc.ended) return;
    proc.ended = true;
    if (this.proc === proc) this.proc = undefined;
    const pid = proc.child.pid;
    const stderr = proc.stderr.trim();
    const detail = `${why}${cannotRun ? ': cannot run it; build it with bash scripts/build-native.sh' : ''}${stderr ? `: ${firstLines(stderr)}` : ''}`;
    this.previousEnd = `(pid ${pid ?? '?'}) ${detail}`;
    this.o.onEnd?.({ pid, detail, killed, answers: this.answers, closing: this.closed });
    proc.pending?.fail(new Error(detail));
  }
}

function firstLines(s: string): string {
  return s.split('\n').filter(Boolean).slice(0, 3).join(' | ');
}
