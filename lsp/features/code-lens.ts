// Code lenses on each policy: how many pods it selects and which directions it isolates; and
// after an edit, its impact: "now allows 3 flows, blocks 1", with the flows in the command's
// arguments (the client shows them).

import type { CodeLens } from 'vscode-languageserver';
import { fieldSpan, type Sourced } from '../../compiler/model/inputs.js';
import { podKey } from '../../compiler/model/cluster.js';
import { formatSelector } from '../../compiler/ir/selector.js';
import { policyLabel, type Policy } from '../../compiler/ir/types.js';
import { LintContext } from '../../compiler/lint/index.js';
import type { SourceFile } from '../../compiler/syntax/source.js';
import type { Analysis } from '../analysis/analysis.js';
import { toRange } from '../positions.js';
import { SHOW_DETAILS_COMMAND, type ShowDetailsArgs } from '../protocol.js';
import { computeImpact, policyKeyOf, type PolicyImpact } from './impact.js';

function lens(file: SourceFile, src: Sourced, title: string, args: ShowDetailsArgs): CodeLens {
  const start = fieldSpan(src, []).start;
  return { range: toRange(file, start, start), command: { title, command: SHOW_DETAILS_COMMAND, arguments: [args] } };
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function selectionLens(ctx: LintContext, policy: Policy): { title: string; items: string[] } {
  const group = ctx.groups.get(policy.subject);
  const isolates = policy.tier === 'networkpolicy' ? `isolates ${policy.isolates.length ? policy.isolates.join(' + ') : 'nothing'}` : `${policy.tier === 'admin' ? `priority ${policy.priority}` : 'baseline'}, ${plural(policy.ruleIds.length, 'rule')}`;
  if (!ctx.hasPods) {
    const sel = group ? formatSelector(group.pods) : '?';
    const where = group?.namespaces.kind === 'name' ? ` in ${group.namespaces.name}` : group && group.namespaces.selector.requirements.length ? ` in namespaces ${formatSelector(group.namespaces.selector)}` : '';
    return { title: `selects pods ${sel}${where} · ${isolates} · no snapshot`, items: [] };
  }
  const pods = ctx.podsOfGroup(policy.subject).map(podKey);
  return { title: `${policy.tier === 'networkpolicy' ? 'selects' : 'applies to'} ${plural(pods.length, 'pod')} · ${isolates}`, items: pods };
}

function impactTitle(impact: PolicyImpact): string {
  if (impact.allows.length === 0 && impact.blocks.length === 0) return `edit: no change in reachability (${plural(impact.checked, 'flow')} checked)`;
  const parts = [];
  if (impact.allows.length) parts.push(`now allows ${plural(impact.allows.length, 'flow')}`);
  if (impact.blocks.length) parts.push(`blocks ${impact.blocks.length}`);
  return `edit: ${parts.join(', ')}${impact.truncated ? ' (partial)' : ''}`;
}

export function codeLenses(analysis: Analysis, file: SourceFile, baselineText: string | undefined): CodeLens[] {
  const ctx = new LintContext(analysis.compilation);
  const out: CodeLens[] = [];
  const policies = analysis.policiesIn(file.name);
  for (const src of policies) {
    const policy = analysis.loweredOf(src);
    if (!policy) {
      out.push(lens(file, src, 'not compiled: fix its errors first', { title: 'not compiled', items: [] }));
      continue;
    }
    const { title, items } = selectionLens(ctx, policy);
    out.push(lens(file, src, title, { title: `${policyLabel(policy.ref)}: ${title}`, items }));
  }
  if (baselineText === undefined || baselineText === file.text) return out;
  if (!analysis.compilation.cluster.pods.length) {
    const first = policies[0];
    if (first) out.push(lens(file, first, 'edit impact: needs a cluster snapshot (setting policyc.snapshotPaths)', { title: 'no snapshot', items: [] }));
    return out;
  }
  for (const impact of computeImpact(analysis, file.name, baselineText, file.text)) {
    const src = impact.src ?? policies.find((s) => policyKeyOf(s.object) === impact.key);
    if (!src || !analysis.loweredOf(src)) continue;
    const title = impactTitle(impact);
    out.push(lens(file, src, title, { title: `${impact.key}: ${title}`, items: [...impact.allows.map((f) => `now allowed: ${f}`), ...impact.blocks.map((f) => `now blocked: ${f}`)] }));
  }
  return out;
}
