// The client of policyc-nft (helper/policyc-nft.c), one long-lived libnftables process in the
// node netns (life cycle: helper-process.ts). Framing, both ways a u32 big-endian length first:
//   request: 1 flag byte (bit 0: terse listing; bit 1: a binary element batch, element-batch.ts;
//            bit 2: the rule counters of a table, rule-counters.ts), then the libnftables JSON
//            text, the binary batch or the table name;
//   answer:  i32 return code, u32 length K of the output, K bytes of output, then the errors.
// A helper that dies before it ever answered is not built for this system (no libnftables):
// `broken`, and NftRunner runs `nft` per batch from then on.
import { HelperProcess, type ReaderControl } from './helper-process.js';
import { ELEMENT_BATCH_FLAG, ELEMENT_BATCH_HELLO } from './element-batch.js';
import { RULE_COUNTERS_FLAG, RULE_COUNTERS_HELLO } from './rule-counters.js';
import type { NftRun } from './nft-exec.js';

/** Bytes of an answer before its output: return code and output length. */
const ANSWER_HEAD = 8;

export class NftHelper {
  private readonly process: HelperProcess<undefined, NftRun>;
  /** it died before ever answering (not built for this system, no libnftables): use `nft` */
  broken = false;
  /** the answers of takes() per request flag, once asked */
  private readonly capabilities = new Map<number, Promise<boolean>>();

  constructor(
    argv: [string, string[]],
    private readonly log: (msg: string) => void,
  ) {
    this.process = new HelperProcess({
      name: 'policyc-nft',
      argv,
      log,
      reader: answerReader,
      onEnd: (end) => {
        if (end.answers === 0) this.broken = true;
        // a kill was logged already, unless it also means the helper cannot serve at all
        if (!end.closing && (!end.killed || this.broken)) log(`policyc-nft ${end.detail}; ${this.broken ? 'running nft per batch instead' : 'restarting it on the next request'}`);
      },
    });
  }

  /**
   * Whether this helper takes binary element batches (flag bit 1; element-batch.ts). Without
   * them element batches go through libnftables as before (sending them would fail every batch
   * and fall back to full replaces).
   */
  takesElementBatches(): Promise<boolean> {
    return this.takes(ELEMENT_BATCH_FLAG, ELEMENT_BATCH_HELLO, 'take binary element batches', 'element batches go through libnftables');
  }

  /** Whether this helper dumps rule counters over nfnetlink (flag bit 2; rule-counters.ts). Without it the counters come from a listing. */
  takesRuleCounters(): Promise<boolean> {
    return this.takes(RULE_COUNTERS_FLAG, RULE_COUNTERS_HELLO, 'dump rule counters', 'counters come from a table listing');
  }

  /**
   * Whether the helper serves request kind `flag`: asked once, with an empty request of that
   * flag (one round trip), answered by a line starting with `hello`. A helper built before the
   * kind runs the empty text through libnftables and answers nothing: false (logged once, with
   * `instead`). No answer at all (the process ended): asked again next time.
   */
  private takes(flag: number, hello: string, what: string, instead: string): Promise<boolean> {
    let asked = this.capabilities.get(flag);
    if (!asked) {
      asked = this.request(flag, Buffer.alloc(0), 10_000).then((r) => {
        if (!r.ok) {
          this.capabilities.delete(flag);
          return false;
        }
        const yes = r.stdout.startsWith(hello);
        if (!yes) this.log(`policyc-nft does not ${what} (built before it? bash scripts/build-native.sh); ${instead}`);
        return yes;
      });
      this.capabilities.set(flag, asked);
    }
    return asked;
  }

  /** processes started so far (1 = never restarted) */
  get starts(): number {
    return this.process.starts;
  }

  /** Never rejects: a helper that ended or was killed gives a failed run saying why. */
  request(flags: number, text: string | Buffer, timeoutMs = 120_000): Promise<NftRun> {
    const body = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    const head = Buffer.alloc(5);
    head.writeUInt32BE(body.length + 1, 0);
    head.writeUInt8(flags, 4);
    return this.process
      .request(undefined, Buffer.concat([head, body]), { timeoutMs, label: flags & 4 ? 'a rule counter dump' : flags & 2 ? 'an element batch' : flags & 1 ? 'a terse listing' : 'a request' })
      .catch((err: Error) => ({ ok: false, code: null, stdout: '', stderr: `policyc-nft ${err.message}` }));
  }

  close(): Promise<void> {
    return this.process.close();
  }
}

/** Reads length-prefixed answers; chunks are joined once an answer is whole (listings run to megabytes). */
function answerReader(control: ReaderControl<undefined, NftRun>): (chunk: Buffer) => void {
  let chunks: Buffer[] = [];
  let buffered = 0;
  return (chunk) => {
    chunks.push(chunk);
    buffered += chunk.length;
    while (buffered >= 4) {
      if (chunks.length > 1 && chunks[0].length < 4) chunks = [Buffer.concat(chunks)];
      const len = chunks[0].readUInt32BE(0);
      if (len < ANSWER_HEAD) return control.kill(`answered a frame of ${len} bytes (at least ${ANSWER_HEAD})`);
      if (buffered < 4 + len) return;
      const buf = chunks.length > 1 ? Buffer.concat(chunks) : chunks[0];
      const rc = buf.readInt32BE(4);
      const outLen = buf.readUInt32BE(8);
      if (outLen > len - ANSWER_HEAD) return control.kill(`answered an output of ${outLen} bytes in a frame of ${len}`);
      const stdout = buf.subarray(12, 12 + outLen).toString('utf8');
      const stderr = buf.subarray(12 + outLen, 4 + len).toString('utf8');
      const rest = buf.subarray(4 + len);
      chunks = rest.length ? [rest] : [];
      buffered = rest.length;
      const p = control.pending();
      if (!p) return control.kill('answered without a request');
      p.resolve({ ok: rc === 0, code: rc, stdout, stderr });
    }
  };
}
