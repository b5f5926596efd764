// A verdict as data with located reasons (for JSON, the language server and policytest),
// and as text for people.

import type { SourceSet, Span } from '../syntax/source.js';
import { policyLabel, type Policy, type Rule } from '../ir/types.js';
import { describeEndpoint } from './endpoints.js';
import type { DirectionResult, Verdict } from './evaluator.js';

export interface Location {
  file: string;
  line: number;
  col: number;
  endLine: number;
  endCol: number;
}

export interface RuleReport {
  id: string;
  policy: string;
  direction: string;
  action: string;
  matched: boolean;
  reasons: string[];
  locations: Location[];
}

export interface SideReport {
  direction: 'ingress' | 'egress';
  pod: string;
  allowed: boolean;
  /** One sentence: who decided. */
  summary: string;
  decidedBy?: RuleReport;
  isolatedBy: Array<{ policy: string; location: Location }>;
  passedBy: RuleReport[];
  candidates: RuleReport[];
}

export interface VerdictReport {
  flow: string;
  allowed: boolean;
  egress: SideReport;
  ingress: SideReport;
}

export function locate(sources: SourceSet, span: Span): Location {
  const s = sources.startOf(span);
  const e = sources.endOf(span);
  return { file: span.file, line: s.line, col: s.col, endLine: e.line, endCol: e.col };
}

function ruleLabel(rule: Rule): string {
  const name = rule.name ? ` "${rule.name}"` : '';
  return `${policyLabel(rule.policy)} ${rule.direction}[${rule.index}]${name}`;
}

function ruleReport(sources: SourceSet, rule: Rule, matched: boolean, reasons: readonly string[]): RuleReport {
  return {
    id: rule.id,
    policy: policyLabel(rule.policy),
    direction: rule.direction,
    action: rule.action,
    matched,
    reasons: [...reasons],
    locations: rule.origins.map((o) => locate(sources, o)),
  };
}

function sideSummary(side: DirectionResult): string {
  const who = describeEndpoint(side.subject);
  const d = side.decision;
  switch (d.kind) {
    case 'not-a-pod':
      return `${who} is not a pod of the cluster: no ${side.direction} policy applies`;
    case 'default':
      return side.isolating.length === 0 && side.checks.length === 0
        ? `no policy selects ${who} for ${side.direction}: allowed by default`
        : `no rule decided and no NetworkPolicy isolates ${who} for ${side.direction}: allowed by default`;
    case 'isolation':
      return `${who} is isolated for ${side.direction} by ${d.policies.map((p) => policyLabel(p.ref)).join(', ')} and no rule of theirs matches`;
    case 'rule':
      return `${d.rule.action === 'allow' ? 'allowed' : 'denied'} by ${ruleLabel(d.rule)}`;
  }
}

function sideReport(sources: SourceSet, side: DirectionResult): SideReport {
  const d = side.decision;
  const decidingCheck = d.kind === 'rule' ? side.checks.find((c) => c.rule === d.rule) : undefined;
  return {
    direction: side.direction,
    pod: describeEndpoint(side.subject),
    allowed: side.allowed,
    summary: sideSummary(side),
    decidedBy: d.kind === 'rule' ? ruleReport(sources, d.rule, true, decidingCheck?.reasons ?? []) : undefined,
    isolatedBy: side.isolating.map((p: Policy) => ({ policy: policyLabel(p.ref), location: locate(sources, p.span) })),
    passedBy: side.passedBy.map((r) => ruleReport(sources, r, true, side.checks.find((c) => c.rule === r)?.reasons ?? [])),
    candidates: side.checks.map((c) => ruleReport(sources, c.rule, c.matched, c.reasons)),
  };
}

export function reportVerdict(sources: SourceSet, v: Verdict): VerdictReport {
  const port = v.flow.port === undefined ? 'any port' : `${v.flow.port}/${v.flow.protocol}`;
  return {
    flow: `${describeEndpoint(v.flow.source)} -> ${describeEndpoint(v.flow.destination)} : ${port}`,
    allowed: v.allowed,
    egress: sideReport(sources, v.egress),
    ingress: sideReport(sources, v.ingress),
  };
}

function where(l: Location): string {
  return `${l.file}:${l.line}:${l.col}`;
}

export function renderVerdictText(report: VerdictReport): string {
  const lines = [`${report.flow}: ${report.allowed ? 'ALLOWED' : 'DENIED'}`];
  for (const side of [report.egress, report.ingress]) {
    lines.push('', `${side.direction} of ${side.pod}: ${side.allowed ? 'allowed' : 'denied'}: ${side.summary}`);
    if (side.decidedBy) lines.push(`  decided by ${side.decidedBy.id} at ${side.decidedBy.locations.map(where).join(', ')}`, ...side.decidedBy.reasons.map((r) => `      ${r}`));
    for (const p of side.passedBy) lines.push(`  passed on to NetworkPolicy by ${p.id} at ${p.locations.map(where).join(', ')}`);
    for (const iso of side.isolatedBy) lines.push(`  isolated by ${iso.policy} at ${where(iso.location)}`);
    const others = side.candidates.filter((c) => c.id !== side.decidedBy?.id);
    if (others.length > 0) {
      lines.push('  other rules for this pod:');
      for (const c of others) {
        lines.push(`    ${c.matched ? 'matched' : 'no match'}: ${c.policy} ${c.direction} rule ${c.id.split('/').pop()} (${c.action}) at ${c.locations.map(where).join(', ')}`);
        for (const r of c.reasons) lines.push(`        ${r}`);
      }
    }
  }
  return lines.join('\n');
}
