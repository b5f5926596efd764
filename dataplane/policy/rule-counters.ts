// Per-rule counters without libnftables: the answer of policyc-nft's rule counter dump (flag bit
// 2; helper/rule-counters.c, one NFT_MSG_GETRULE dump over raw nfnetlink). Why: libnftables
// fetches every set element for any listing, terse too (~340 ms through the helper at 1,000
// chains and 100,000 elements), and keeps them in its cache, so its next element batch first
// frees them (78-91 ms instead of 1.5 ms); the engine read the counters that way on every
// Prometheus scrape. The dump carries no element.

/** policyc-nft's request flag for a rule counter dump (the body is the table name). */
export const RULE_COUNTERS_FLAG = 4;

/** The answer to an empty request of RULE_COUNTERS_FLAG from a helper that knows it. */
export const RULE_COUNTERS_HELLO = 'policyc-nft rule-counters ';

/** One rule's (first) counter, in the kernel's order: chains, then their rules. */
export interface CounterRow {
  chain: string;
  packets: number;
  bytes: number;
  /** the rule's comment; undefined when it has none */
  comment?: string;
}

const LINE_RE = /^([^\t]*)\t(\d{1,20})\t(\d{1,20})\t([^\t]*)$/;

function unescape(s: string): string {
  return s.replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/**
 * The helper's lines (CHAIN \t PACKETS \t BYTES \t COMMENT, names escaped as \xHH) as rows.
 * Throws on a line that does not parse: the caller falls back to a listing.
 */
export function parseCounterLines(text: string): CounterRow[] {
  const rows: CounterRow[] = [];
  if (text === '') return rows;
  if (!text.endsWith('\n')) throw new Error('the rule counter answer does not end with a newline');
  const lines = text.slice(0, -1).split('\n');
  for (const [i, line] of lines.entries()) {
    const m = LINE_RE.exec(line);
    if (!m || m[1] === '') throw new Error(`rule counter line ${i + 1} does not parse: ${JSON.stringify(line.slice(0, 200))}`);
    rows.push({ chain: unescape(m[1]), packets: Number(m[2]), bytes: Number(m[3]), ...(m[4] ? { comment: unescape(m[4]) } : {}) });
  }
  return rows;
}
