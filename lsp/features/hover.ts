// Hover: the policy, rule, peer, selector or port under the cursor, explained in plain words,
// with the pods it selects when there is a snapshot.

import type { Hover } from 'vscode-languageserver';
import { LintContext } from '../../compiler/lint/index.js';
import type { SourceFile } from '../../compiler/syntax/source.js';
import type { Analysis } from '../analysis/analysis.js';
import { toRange } from '../positions.js';
import { AdminPolicyWords } from '../words/adminpolicy.js';
import { NetworkPolicyWords } from '../words/networkpolicy.js';
import { locateInPolicy, policyAt } from '../yaml-path.js';

export function hoverAt(analysis: Analysis, file: SourceFile, offset: number): Hover | null {
  const src = policyAt(analysis.policiesIn(file.name), offset);
  if (!src || !src.object || typeof src.object !== 'object') return null;
  const loc = locateInPolicy(src, offset);
  const ctx = new LintContext(analysis.compilation);
  const object = src.object as Record<string, unknown>;
  const lines = object.kind === 'NetworkPolicy' ? new NetworkPolicyWords(object, ctx).explain(loc.path) : new AdminPolicyWords(object, ctx).explain(loc.path);
  if (lines.length === 0) return null;
  return { contents: { kind: 'markdown', value: lines.join('\n\n') }, range: toRange(file, loc.start, loc.end) };
}
