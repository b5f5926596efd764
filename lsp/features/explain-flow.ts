// policyc/explainFlow: the verdict for a written flow, with the location of every rule and
// policy involved, so the client can jump to and highlight the lines responsible.

import { describeEndpoint } from '../../compiler/evaluate/endpoints.js';
import type { DirectionResult, Verdict } from '../../compiler/evaluate/evaluator.js';
import { renderVerdictText, reportVerdict } from '../../compiler/evaluate/explain.js';
import { resolveFlow } from '../../compiler/evaluate/resolve-flow.js';
import { formatFlow, parseFlow } from '../../compiler/flow/index.js';
import { policyLabel, type Rule } from '../../compiler/ir/types.js';
import type { Span } from '../../compiler/syntax/source.js';
import type { Analysis } from '../analysis/analysis.js';
import { spanLocation, type SpanResolver } from '../positions.js';
import type { ExplainFlowParams, ExplainFlowResult, ExplainLocation, ExplainRole, FlowVerdict } from '../protocol.js';

const LIMIT = 50;

function ruleName(rule: Rule): string {
  return `${policyLabel(rule.policy)} ${rule.direction}[${rule.index}]${rule.name ? ` "${rule.name}"` : ''}`;
}

function sideLocations(side: DirectionResult, resolver: SpanResolver): ExplainLocation[] {
  const out: ExplainLocation[] = [];
  const add = (span: Span | undefined, role: ExplainRole, message: string) => {
    const loc = span && spanLocation(resolver, span);
    if (loc) out.push({ ...loc, role, direction: side.direction, message });
  };
  const d = side.decision;
  if (d.kind === 'rule') for (const o of d.rule.origins) add(o, 'decided', `${ruleName(d.rule)}: ${d.rule.action === 'allow' ? 'allowed' : d.rule.action === 'deny' ? 'denied' : 'passed'}`);
  for (const p of side.isolating) add(p.span, 'isolated', `${policyLabel(p.ref)} isolates ${describeEndpoint(side.subject)} for ${side.direction}`);
  for (const r of side.passedBy) for (const o of r.origins) add(o, 'passed', `${ruleName(r)}: passed on to NetworkPolicies`);
  for (const c of side.checks) {
    if (d.kind === 'rule' && c.rule === d.rule) continue;
    if (side.passedBy.includes(c.rule)) continue;
    for (const o of c.rule.origins) add(o, 'candidate', `${ruleName(c.rule)}: ${c.matched ? 'matched' : 'no match'}${c.reasons[0] ? ` (${c.reasons[0]})` : ''}`);
  }
  return out;
}

function verdictOf(analysis: Analysis, v: Verdict, resolver: SpanResolver): FlowVerdict {
  const report = reportVerdict(analysis.compilation.sources, v);
  const locations = [...sideLocations(v.egress, resolver), ...sideLocations(v.ingress, resolver)];
  const order: ExplainRole[] = ['decided', 'isolated', 'passed', 'candidate'];
  locations.sort((a, b) => order.indexOf(a.role) - order.indexOf(b.role));
  return {
    flow: report.flow,
    allowed: v.allowed,
    egress: { allowed: report.egress.allowed, summary: report.egress.summary },
    ingress: { allowed: report.ingress.allowed, summary: report.ingress.summary },
    locations,
    text: renderVerdictText(report),
  };
}

export function explainFlow(analysis: Analysis, params: ExplainFlowParams, resolver: SpanResolver): ExplainFlowResult {
  const text = typeof params?.flow === 'string' ? params.flow : '';
  const parsed = parseFlow(text);
  if (!parsed.flow) return { errors: parsed.errors, verdicts: [], total: 0 };
  const program = analysis.compilation.program;
  const evaluator = analysis.evaluator;
  if (!program || !evaluator) return { flow: formatFlow(parsed.flow), errors: [{ message: 'no valid policies in the workspace', start: 0, end: text.length }], verdicts: [], total: 0 };
  const resolved = resolveFlow(parsed.flow, analysis.compilation.cluster, program);
  const verdicts = resolved.flows.slice(0, LIMIT).map((f) => verdictOf(analysis, evaluator.evaluate(f), resolver));
  const everyAllowed = resolved.flows.length > 0 && resolved.flows.every((f, i) => (i < verdicts.length ? verdicts[i].allowed : evaluator.evaluate(f).allowed));
  const everyDenied = resolved.flows.length > 0 && resolved.flows.every((f, i) => !(i < verdicts.length ? verdicts[i].allowed : evaluator.evaluate(f).allowed));
  return {
    flow: formatFlow(parsed.flow),
    errors: resolved.errors,
    verdicts,
    total: resolved.flows.length,
    allowed: everyAllowed ? true : everyDenied ? false : undefined,
  };
}
