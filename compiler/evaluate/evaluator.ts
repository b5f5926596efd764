// The reference meaning of a policy set: would this flow pass, and why.
//
// A flow passes when the source's egress side and the destination's ingress side both allow
// it. Each side walks the tiers: AdminNetworkPolicy rules by priority (first match: Allow and
// Deny decide, Pass skips to NetworkPolicy), then NetworkPolicy (if any policy isolates the pod,
// some rule of those policies must allow), then BaselineAdminNetworkPolicy (first match),
// then allow. Both backends are tested against this file.

import type { Cluster } from '../model/cluster.js';
import type { Direction, Group, Policy, Program, Rule, Tier } from '../ir/types.js';
import { describeEndpoint, type Endpoint, type Flow } from './endpoints.js';
import { groupMatches, ruleMatches } from './match.js';

export interface RuleCheck {
  readonly rule: Rule;
  readonly matched: boolean;
  readonly reasons: readonly string[];
}

export type Decision =
  | { readonly kind: 'rule'; readonly rule: Rule }
  /** Isolated by NetworkPolicies and no rule of theirs allowed it. */
  | { readonly kind: 'isolation'; readonly policies: readonly Policy[] }
  | { readonly kind: 'default' }
  /** The protected end is not a pod of the cluster: nothing to enforce on this side. */
  | { readonly kind: 'not-a-pod' };

export interface DirectionResult {
  readonly direction: Direction;
  /** The pod this side protects (ingress: destination, egress: source). */
  readonly subject: Endpoint;
  readonly allowed: boolean;
  readonly tier?: Tier;
  readonly decision: Decision;
  /** AdminNetworkPolicy Pass rules that sent the flow on to NetworkPolicy. */
  readonly passedBy: readonly Rule[];
  /** NetworkPolicies that select the subject for this direction. */
  readonly isolating: readonly Policy[];
  /** Every rule whose subject is this pod, in evaluation order, with why it did or did not match. */
  readonly checks: readonly RuleCheck[];
}

export interface Verdict {
  readonly allowed: boolean;
  readonly flow: Flow;
  readonly egress: DirectionResult;
  readonly ingress: DirectionResult;
}

export class Evaluator {
  readonly groups: ReadonlyMap<string, Group>;
  private readonly policyById = new Map<string, Policy>();
  private readonly membership = new Map<string, boolean>();

  constructor(
    readonly program: Program,
    readonly cluster: Cluster,
  ) {
    this.groups = new Map(program.groups.map((g) => [g.id, g]));
    for (const p of program.policies) this.policyById.set(policyKey(p.ref), p);
  }

  evaluate(flow: Flow): Verdict {
    const egress = this.evaluateDirection('egress', flow);
    const ingress = this.evaluateDirection('ingress', flow);
    return { allowed: egress.allowed && ingress.allowed, flow, egress, ingress };
  }

  /** Is the pod in the group? Cached: reach matrices ask the same question many times. */
  inGroup(groupId: string, e: Endpoint): boolean {
    if (e.kind !== 'pod') return false;
    const key = `${groupId}|${e.pod.namespace}/${e.pod.name}`;
    let hit = this.membership.get(key);
    if (hit === undefined) {
      const group = this.groups.get(groupId);
      hit = group ? groupMatches(group, e).matched : false;
      this.membership.set(key, hit);
    }
    return hit;
  }

  policyOf(rule: Rule): Policy | undefined {
    return this.policyById.get(policyKey(rule.policy));
  }

  /** One side of a flow: egress protects the source, ingress the destination. */
  evaluateDirection(direction: Direction, flow: Flow): DirectionResult {
    const subject = direction === 'egress' ? flow.source : flow.destination;
    const peer = direction === 'egress' ? flow.destination : flow.source;
    const base = { direction, subject, passedBy: [] as Rule[], isolating: [] as Policy[], checks: [] as RuleCheck[] };
    if (subject.kind !== 'pod') return { ...base, allowed: true, decision: { kind: 'not-a-pod' } };
    const check = (rule: Rule): RuleCheck => {
      const r = ruleMatches(rule, peer, flow.destination, flow.protocol, flow.port, this.groups, this.cluster);
      const c = { rule, matched: r.matched, reasons: r.reasons };
      base.checks.push(c);
      return c;
    };
    const rules = this.program.rules.filter((r) => r.direction === direction && this.inGroup(r.subject, subject));

    for (const rule of rules) {
      if (rule.tier !== 'admin') continue;
      if (!check(rule).matched) continue;
      if (rule.action === 'pass') {
        base.passedBy.push(rule);
        break;
      }
      return { ...base, allowed: rule.action === 'allow', tier: 'admin', decision: { kind: 'rule', rule } };
    }

    const isolating = this.program.policies.filter((p) => p.tier === 'networkpolicy' && p.isolates.includes(direction) && this.inGroup(p.subject, subject));
    base.isolating.push(...isolating);
    if (isolating.length > 0) {
      let allowedBy: Rule | undefined;
      for (const rule of rules) {
        if (rule.tier !== 'networkpolicy') continue;
        if (check(rule).matched && !allowedBy) allowedBy = rule;
      }
      if (allowedBy) return { ...base, allowed: true, tier: 'networkpolicy', decision: { kind: 'rule', rule: allowedBy } };
      return { ...base, allowed: false, tier: 'networkpolicy', decision: { kind: 'isolation', policies: isolating } };
    }

    for (const rule of rules) {
      if (rule.tier !== 'baseline') continue;
      if (check(rule).matched) return { ...base, allowed: rule.action === 'allow', tier: 'baseline', decision: { kind: 'rule', rule } };
    }
    return { ...base, allowed: true, decision: { kind: 'default' } };
  }
}

function policyKey(ref: { kind: string; namespace?: string; name: string }): string {
  return `${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

export function summarizeVerdict(v: Verdict): string {
  return `${describeEndpoint(v.flow.source)} -> ${describeEndpoint(v.flow.destination)} : ${v.flow.port ?? 'any'}/${v.flow.protocol}: ${v.allowed ? 'ALLOWED' : 'DENIED'}`;
}
