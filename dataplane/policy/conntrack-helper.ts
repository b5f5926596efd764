// The client of `policyc-conntrack serve` (conntrack/policyc-conntrack.c), one long-lived ctnetlink
// process in the node netns (life cycle: helper-process.ts). Framing: a request is a line (for
// `delete`, followed by its entry lines); an answer is data lines, `!` report lines, and one
// terminator line, `=ok VERB k=v ...` or `=error WHAT`. Any line past MAX_ANSWER_LINE, or a line
// with no request waiting, breaks the framing: the process is killed by PID and the request fails.
import { StringDecoder } from 'node:string_decoder';
import { HelperProcess, type ReaderControl } from './helper-process.js';
import { describeNetns, netnsArgv, type NetnsTarget } from './nft-exec.js';

/** The terminator of one answer of `policyc-conntrack serve`: `=ok VERB k=v ...` (fields) or `=error WHAT`. */
export interface HelperAnswer {
  fields: Record<string, string>;
  /** `!` lines: the problems the helper reported (the first few) */
  reports: string[];
}

/** Longest line accepted from the helper: an entry line is < 200 bytes, a report < 600. */
const MAX_ANSWER_LINE = 4096;
/** `!` lines kept per answer */
const MAX_REPORTS = 20;

/** Parses `=ok VERB k=v k=v`; undefined for anything else. */
export function parseAnswerLine(line: string, verb: string): Record<string, string> | undefined {
  const f = line.split(' ');
  if (f[0] !== '=ok' || f[1] !== verb) return undefined;
  const fields: Record<string, string> = {};
  for (const kv of f.slice(2)) {
    const eq = kv.indexOf('=');
    if (eq <= 0) return undefined;
    fields[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return fields;
}

/** What the reader needs of a request. */
interface LineRequest {
  verb: string;
  onLine?: (line: string) => void;
  reports: string[];
  /** onLine threw: the answer is read to its end, then the request fails with this */
  failed?: Error;
}

/**
 * One long-lived `policyc-conntrack serve` inside the target netns, started at start() or at the
 * first request, one request at a time. A helper that exits is logged and started again by the
 * next request; one that does not answer within the request's timeout, or breaks the framing, is
 * killed by PID (that request fails). close() stops it by PID.
 */
export class ConntrackHelper {
  private readonly process: HelperProcess<LineRequest, HelperAnswer>;

  constructor(
    readonly path: string,
    target: NetnsTarget,
    log: (msg: string) => void,
  ) {
    const name = `${path} serve`;
    this.process = new HelperProcess({
      name,
      argv: netnsArgv(target, [path, 'serve']),
      log,
      reader: lineReader,
      stopSignal: 'SIGTERM',
      onEnd: (end) => {
        if (!end.closing && !end.killed) log(`${name} in ${describeNetns(target)} (pid ${end.pid ?? '?'}) ${end.detail}; starting it again at the next flush`);
      },
    });
  }

  /** processes started so far (1 = never restarted) */
  get starts(): number {
    return this.process.starts;
  }

  /** PID of the running helper (undefined: none running) */
  get pid(): number | undefined {
    return this.process.pid;
  }

  /** Starts the process unless it runs (a failure to run shows at the first request). */
  start(): void {
    this.process.start();
  }

  /**
   * Sends one request (`text`: the request line and, for delete, its entry lines, each ending in
   * a newline); `onLine` gets the answer's data lines. Resolves with the terminator's fields;
   * rejects on `=error`, exit, timeout (the helper is then killed) or a framing error.
   */
  request(verb: string, text: string, options: { timeoutMs: number; onLine?: (line: string) => void }): Promise<HelperAnswer> {
    return this.process.request({ verb, onLine: options.onLine, reports: [] }, text, { timeoutMs: options.timeoutMs, label: verb });
  }

  /** Stops the process by PID (SIGTERM, SIGKILL after 2 s); requests after this fail. */
  close(): Promise<void> {
    return this.process.close();
  }
}

function lineReader(control: ReaderControl<LineRequest, HelperAnswer>): (chunk: Buffer) => void {
  const decoder = new StringDecoder('utf8');
  let buf = '';
  return (chunk) => {
    buf += decoder.write(chunk);
    let start = 0;
    let nl: number;
    while ((nl = buf.indexOf('\n', start)) >= 0) {
      const line = buf.slice(start, nl);
      start = nl + 1;
      if (line.length > MAX_ANSWER_LINE) return control.kill(`answered a line of ${line.length} bytes (at most ${MAX_ANSWER_LINE})`);
      const p = control.pending();
      if (!p) return control.kill(`answered without a request: ${JSON.stringify(line.slice(0, 80))}`);
      const r = p.context;
      if (line.startsWith('=')) {
        const fields = parseAnswerLine(line, r.verb);
        if (r.failed) p.reject(r.failed);
        else if (fields) p.resolve({ fields, reports: r.reports });
        else p.reject(new Error(line.startsWith('=error ') ? line.slice(7) : `unexpected answer ${JSON.stringify(line.slice(0, 200))}`));
      } else if (line.startsWith('!')) {
        if (r.reports.length < MAX_REPORTS) r.reports.push(line.slice(1));
      } else if (r.onLine && !r.failed) {
        try {
          r.onLine(line);
        } catch (err) {
          r.failed = err as Error;
        }
      }
    }
    buf = start ? buf.slice(start) : buf;
    if (buf.length > MAX_ANSWER_LINE) control.kill(`answered a line longer than ${MAX_ANSWER_LINE} bytes`);
  };
}
