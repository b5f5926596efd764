// Drop samples: every drop_<cookie> chain logs a rate-limited sample (default 10/s, burst 5 per
// rule) to NFLOG group 1 with the prefix "policyc drop <cookie> <rule id> " (isolation drops:
// "policyc drop isolated <direction> "). A reader turns them into DropSample events so that
// `policyc observe` can later explain a drop with the YAML lines of its rule (rules.json origins).
//
// TODO(nflog): no reader ships yet. Reading NFLOG means a NETLINK_NETFILTER socket
// (nfnetlink_log: bind the group, parse NFULA_PREFIX / NFULA_PAYLOAD attributes), which Node
// cannot open without a native addon; the plan is a small C helper next to cni/plugin/ that
// writes one JSON line per sample, plugged in through DropSampleSource. Until then the kernel
// counters read by metrics.ts are the real figures; samples only add the packet headers.

export interface DropSample {
  /** 8 hex digits, or undefined for an isolation drop */
  cookie?: string;
  ruleId?: string;
  /** for isolation drops */
  isolated?: 'egress' | 'ingress';
  at: Date;
  /** raw packet headers when the reader has them */
  payload?: Buffer;
}

/** Something that delivers samples (a netlink reader, a test double). */
export interface DropSampleSource {
  start(onSample: (sample: DropSample) => void): Promise<{ stop(): Promise<void> }>;
}

/** Parses an NFLOG prefix written by the ruleset; undefined for anything else. */
export function parseDropPrefix(prefix: string, at = new Date()): DropSample | undefined {
  const text = prefix.trim();
  const iso = /^policyc drop isolated (egress|ingress)$/.exec(text);
  if (iso) return { isolated: iso[1] as 'egress' | 'ingress', at };
  const m = /^policyc drop ([0-9a-f]{8}) (.+)$/.exec(text);
  if (m) return { cookie: m[1], ruleId: m[2], at };
  return undefined;
}
