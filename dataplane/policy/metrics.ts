// Prometheus text exposition (format 0.0.4) of the engine's figures. Allow/drop counts are the
// kernel's own counters in the per-rule allow_<cookie>/drop_<cookie> chains (read with a rule
// dump over nfnetlink, rule-counters.ts; without a helper that does it, a terse
// `nft -j list table`), mapped to rule ids through the artifact's rules.json;
// they are exact, unlike the rate-limited NFLOG samples (see nflog.ts), which are counted
// separately as policyc_drop_samples_total when the NFLOG reader runs.
import type { RuleInfo } from './artifact.js';
import type { CounterRow } from './rule-counters.js';

export const APPLY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Histogram {
  readonly counts = APPLY_BUCKETS.map(() => 0);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    for (const [i, le] of APPLY_BUCKETS.entries()) if (seconds <= le) this.counts[i]++;
  }
}

export interface RuleCounter {
  ruleId: string;
  policy: string;
  action: 'allow' | 'drop';
  packets: number;
  bytes: number;
}

const CHAIN_RE = /^(allow|drop)_([0-9a-f]{8})$/;
const ISOLATED_RE = /^drop_isolated_(egress|ingress)$/;

/** Per-rule counters from a (terse) listing of the table: its rules' first counters, as rows. */
export function ruleCounters(listing: { nftables: Array<Record<string, any>> }, rules: ReadonlyMap<number, RuleInfo>): RuleCounter[] {
  const rows: CounterRow[] = [];
  for (const o of listing.nftables) {
    const rule = o.rule;
    if (!rule || !Array.isArray(rule.expr)) continue;
    const counter = rule.expr.find((e: Record<string, any>) => e.counter)?.counter;
    if (!counter) continue;
    rows.push({ chain: String(rule.chain), packets: Number(counter.packets) || 0, bytes: Number(counter.bytes) || 0, ...(typeof rule.comment === 'string' ? { comment: rule.comment } : {}) });
  }
  return ruleCountersOfRows(rows, rules);
}

/**
 * Per-rule counters from (chain, packets, bytes, comment) rows: the kernel's rule dump
 * (NftRunner.ruleCounters) or a listing (ruleCounters). Only the allow_<cookie>/drop_<cookie>
 * and drop_isolated_<direction> chains count; cookie -> rule id through rules.json (else the
 * rule's comment, else `cookie:<hex>`).
 */
export function ruleCountersOfRows(rows: readonly CounterRow[], rules: ReadonlyMap<number, RuleInfo>): RuleCounter[] {
  const out: RuleCounter[] = [];
  for (const row of rows) {
    const m = CHAIN_RE.exec(row.chain);
    if (m) {
      const cookie = parseInt(m[2], 16) >>> 0;
      const info = rules.get(cookie);
      out.push({ ruleId: info?.id ?? row.comment ?? `cookie:${m[2]}`, policy: info?.policy ?? '', action: m[1] as 'allow' | 'drop', packets: row.packets, bytes: row.bytes });
      continue;
    }
    const iso = ISOLATED_RE.exec(row.chain);
    if (iso) out.push({ ruleId: `isolated:${iso[1]}`, policy: 'NetworkPolicy isolation', action: 'drop', packets: row.packets, bytes: row.bytes });
  }
  return out;
}

export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labels(l: Record<string, string>): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export interface MetricsInput {
  policies: number;
  groups: number;
  rules: number;
  setElements: number;
  endpoints: number;
  ready: boolean;
  applyDuration: ReadonlyMap<'full' | 'diff', Histogram>;
  applyErrors: ReadonlyMap<string, number>;
  applies: ReadonlyMap<'full' | 'diff', number>;
  counters?: RuleCounter[];
  countersError?: string;
  /** NFLOG drop samples received, by rule id (nflog.ts RecentDrops.totals); absent: no reader */
  dropSamples?: ReadonlyMap<string, number>;
  /** established flows the policy denies, flushed from conntrack (conntrack-flush.ts); absent: turned off */
  conntrackFlush?: { runs: number; skipped: number; checked: number; flushed: number; errors: number };
  /**
   * Processes started by each long-lived helper (helper-process.ts): NftRunner.helperStarts,
   * ConntrackFlusher.helperStarts. Absent or undefined: that helper is not in use.
   */
  helperStarts?: { nft?: number; conntrack?: number };
  lastError?: { reason: string; message: string; at: Date };
  loadedAt?: Date;
  artifactHash?: string;
}

export function renderMetrics(m: MetricsInput): string {
  const lines: string[] = [];
  const gauge = (name: string, help: string, value: number, l: Record<string, string> = {}) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name}${labels(l)} ${value}`);
  };
  gauge('policyc_policies', 'Policies in the loaded artifact.', m.policies);
  gauge('policyc_groups', 'Pod groups (selectors) in the loaded artifact.', m.groups);
  gauge('policyc_rules', 'IR rules in the loaded artifact.', m.rules);
  gauge('policyc_set_elements', 'Set and map elements loaded in the kernel.', m.setElements);
  gauge('policyc_endpoints', 'Pod endpoints on this node known to the policy engine.', m.endpoints);
  gauge('policyc_ready', 'Whether a policy is loaded (CNI STATUS ready).', m.ready ? 1 : 0);
  if (m.loadedAt) gauge('policyc_policy_loaded_timestamp_seconds', 'When the current policy was loaded.', m.loadedAt.getTime() / 1000, { artifact: m.artifactHash ?? '' });

  lines.push('# HELP policyc_apply_duration_seconds Time to apply a change to the kernel (full replace or element diff).', '# TYPE policyc_apply_duration_seconds histogram');
  for (const [kind, h] of m.applyDuration) {
    for (const [i, le] of APPLY_BUCKETS.entries()) lines.push(`policyc_apply_duration_seconds_bucket${labels({ kind, le: String(le) })} ${h.counts[i]}`);
    lines.push(`policyc_apply_duration_seconds_bucket${labels({ kind, le: '+Inf' })} ${h.count}`);
    lines.push(`policyc_apply_duration_seconds_sum${labels({ kind })} ${h.sum}`);
    lines.push(`policyc_apply_duration_seconds_count${labels({ kind })} ${h.count}`);
  }
  lines.push('# HELP policyc_applies_total Batches the kernel accepted.', '# TYPE policyc_applies_total counter');
  for (const [kind, n] of m.applies) lines.push(`policyc_applies_total${labels({ kind })} ${n}`);
  lines.push('# HELP policyc_apply_errors_total Refused artifacts and failed batches, by reason.', '# TYPE policyc_apply_errors_total counter');
  if (m.applyErrors.size === 0) lines.push('policyc_apply_errors_total 0');
  for (const [reason, n] of m.applyErrors) lines.push(`policyc_apply_errors_total${labels({ reason })} ${n}`);

  if (m.counters) {
    lines.push('# HELP policyc_drops_total Packets dropped, by rule (kernel counters of drop_<cookie> chains).', '# TYPE policyc_drops_total counter');
    for (const c of m.counters) if (c.action === 'drop') lines.push(`policyc_drops_total${labels({ rule_id: c.ruleId, policy: c.policy })} ${c.packets}`);
    lines.push('# HELP policyc_allows_total New flows allowed, by rule (kernel counters of allow_<cookie> chains).', '# TYPE policyc_allows_total counter');
    for (const c of m.counters) if (c.action === 'allow') lines.push(`policyc_allows_total${labels({ rule_id: c.ruleId, policy: c.policy })} ${c.packets}`);
  }
  if (m.dropSamples) {
    lines.push('# HELP policyc_drop_samples_total NFLOG drop samples received, by rule (rate-limited: see policyc_drops_total for exact counts).', '# TYPE policyc_drop_samples_total counter');
    for (const [ruleId, n] of m.dropSamples) lines.push(`policyc_drop_samples_total${labels({ rule_id: ruleId })} ${n}`);
  }
  if (m.conntrackFlush) {
    const f = m.conntrackFlush;
    const counter = (name: string, help: string, value: number) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`);
    counter('policyc_conntrack_flushed_total', 'Conntrack entries of established flows deleted because a policy change denies them.', f.flushed);
    counter('policyc_conntrack_checked_total', 'Conntrack entries judged against a new policy by the denied-flow flush.', f.checked);
    counter('policyc_conntrack_flush_runs_total', 'Denied-flow flushes run (conntrack listed and judged).', f.runs);
    counter('policyc_conntrack_flush_skipped_total', 'Element diffs that provably deny nothing new (no flush needed).', f.skipped);
    counter('policyc_conntrack_flush_errors_total', 'Denied-flow flushes that failed (conntrack or ip failed).', f.errors);
  }
  const helpers = Object.entries(m.helperStarts ?? {}).filter((e): e is [string, number] => e[1] !== undefined);
  if (helpers.length > 0) {
    // more than 1 for a helper: it died or was killed and was started again (the log says why)
    lines.push('# HELP policyc_helper_starts_total Helper processes started (nft: policyc-nft, conntrack: policyc-conntrack serve); more than one means restarts.', '# TYPE policyc_helper_starts_total counter');
    for (const [helper, n] of helpers) lines.push(`policyc_helper_starts_total${labels({ helper })} ${n}`);
  }
  if (m.countersError) gauge('policyc_counters_unavailable', `Kernel counters could not be read: ${m.countersError.replace(/\n/g, ' ')}`, 1);
  lines.push('# HELP policyc_last_error_info The last refused artifact or failed batch (value: unix time).', '# TYPE policyc_last_error_info gauge');
  if (m.lastError) lines.push(`policyc_last_error_info${labels({ reason: m.lastError.reason, message: m.lastError.message.slice(0, 300) })} ${m.lastError.at.getTime() / 1000}`);
  return `${lines.join('\n')}\n`;
}

/** Parses exposition text into samples (for tests and `policyc metrics --check`); throws on a malformed line. */
export function parseMetrics(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const out: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`malformed metrics line: ${line}`);
    const l: Record<string, string> = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
      let pos = 0;
      while (pos < m[3].length) {
        re.lastIndex = pos;
        const lm = re.exec(m[3]);
        if (!lm) throw new Error(`malformed labels: ${line}`);
        l[lm[1]] = lm[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        pos = re.lastIndex;
      }
    }
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    if (Number.isNaN(value) && m[4] !== 'NaN') throw new Error(`malformed value: ${line}`);
    out.push({ name: m[1], labels: l, value });
  }
  return out;
}
