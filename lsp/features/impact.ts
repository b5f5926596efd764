// The impact of an edit: for each policy of a document that changed since it was opened or
// saved, which flows between the snapshot's pods (on the ports the destination pods define,
// plus the port numbers the policy names) are now allowed or now blocked. Only flows whose
// protected end the policy selects (before or after) are evaluated, each side on a program
// trimmed to the rules for those pods, so this stays fast on large workspaces.

import type { Sourced } from '../../compiler/model/inputs.js';
import { fieldSpan } from '../../compiler/model/inputs.js';
import { podKey, type Cluster, type ClusterPod } from '../../compiler/model/cluster.js';
import type { Protocol } from '../../compiler/model/k8s-types.js';
import { podEndpoint, type Endpoint, type Flow } from '../../compiler/evaluate/endpoints.js';
import { Evaluator } from '../../compiler/evaluate/evaluator.js';
import { groupMatches } from '../../compiler/evaluate/match.js';
import type { Direction, Policy, Program, Rule } from '../../compiler/ir/types.js';
import { analyzeFile, type FileAnalysis } from '../analysis/incremental.js';
import { mergePrograms } from '../analysis/merge-programs.js';
import type { Analysis } from '../analysis/analysis.js';
import { lowerProgram } from '../../compiler/lower/program.js';

export interface PolicyImpact {
  /** `kind/namespace/name` of the edited policy. */
  key: string;
  /** Where the policy is now (absent when the edit removed it). */
  src?: Sourced;
  allows: string[];
  blocks: string[];
  /** Flows evaluated. */
  checked: number;
  /** True when the candidate flows were too many and only a part was evaluated. */
  truncated: boolean;
}

const MAX_FLOWS = 200_000;

export function policyKeyOf(object: unknown): string | undefined {
  if (!object || typeof object !== 'object') return undefined;
  const o = object as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  if (typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string') return undefined;
  const ns = o.kind === 'NetworkPolicy' ? (typeof o.metadata.namespace === 'string' ? o.metadata.namespace : 'default') : '';
  return `${o.kind}/${ns}/${o.metadata.name}`;
}

function refKey(p: Policy): string {
  return `${p.ref.kind}/${p.ref.namespace ?? ''}/${p.ref.name}`;
}

/** What a policy means, without where it is written: equal strings, equal meaning. */
function meaning(program: Program | undefined, key: string): string {
  if (!program) return '';
  const policy = program.policies.find((p) => refKey(p) === key);
  if (!policy) return '';
  const ids = new Set(policy.ruleIds);
  const rules = program.rules.filter((r) => ids.has(r.id)).map((r) => ({ ...r, cookie: 0, origins: [], peers: r.peers.map((p) => ({ ...p, span: undefined })), ports: r.ports?.map((p) => ({ ...p, span: undefined })) }));
  return JSON.stringify({ isolates: policy.isolates, tier: policy.tier, priority: policy.priority, subject: policy.subject, rules });
}

const baselineCache = new Map<string, FileAnalysis>();

function baselineAnalysis(name: string, text: string): FileAnalysis {
  const key = `${name}\u0000${text}`;
  let hit = baselineCache.get(key);
  if (!hit) {
    if (baselineCache.size > 16) baselineCache.clear();
    hit = analyzeFile({ name, text });
    baselineCache.set(key, hit);
  }
  return hit;
}

/** The program as it was before this file's edit: the file's policies swapped for its baseline's. */
function programBefore(after: Program, fileName: string, baseline: FileAnalysis): Program {
  const keep: Program = {
    formatVersion: 1,
    groups: after.groups,
    policies: after.policies.filter((p) => p.span.file !== fileName),
    rules: after.rules.filter((r) => r.origins[0]?.file !== fileName),
  };
  const parts: Program[] = [keep];
  baseline.inputs.policies.forEach((src, i) => {
    const span = fieldSpan(src, []);
    const invalid = baseline.checks[i].some((d) => d.severity === 'error' && d.span && d.span.start >= span.start && d.span.start <= span.end);
    if (invalid) return;
    try {
      parts.push(lowerProgram([src]));
    } catch {
      // not lowerable: absent before
    }
  });
  return mergePrograms(parts);
}

/** The edits' impact on each changed policy of one document (empty when nothing changed). */
export function computeImpact(analysis: Analysis, fileName: string, baselineText: string | undefined, currentText: string): PolicyImpact[] {
  const after = analysis.compilation.program;
  if (!after || baselineText === undefined || baselineText === currentText) return [];
  const baseline = baselineAnalysis(fileName, baselineText);
  const before = programBefore(after, fileName, baseline);
  const keys = new Set<string>();
  for (const src of [...baseline.inputs.policies, ...analysis.policiesIn(fileName)]) {
    const key = policyKeyOf(src.object);
    if (key) keys.add(key);
  }
  const cluster = analysis.compilation.cluster;
  const out: PolicyImpact[] = [];
  const fullBefore = new Evaluator(before, cluster);
  const fullAfter = analysis.evaluator!;
  for (const key of [...keys].sort()) {
    if (meaning(before, key) === meaning(after, key)) continue;
    const src = analysis.policiesIn(fileName).find((s) => policyKeyOf(s.object) === key);
    out.push({ key, src, ...diffFlows(before, after, key, cluster, fullBefore, fullAfter) });
  }
  return out;
}

function selectedPods(program: Program, key: string, cluster: Cluster, evaluator: Evaluator): { pods: ClusterPod[]; directions: Direction[]; ports: number[] } {
  const policy = program.policies.find((p) => refKey(p) === key);
  if (!policy) return { pods: [], directions: [], ports: [] };
  const group = evaluator.groups.get(policy.subject);
  const pods = group ? cluster.pods.filter((p) => groupMatches(group, podEndpoint(cluster, p)).matched) : [];
  const ids = new Set(policy.ruleIds);
  const rules = program.rules.filter((r) => ids.has(r.id));
  const directions = new Set<Direction>(policy.isolates);
  for (const r of rules) directions.add(r.direction);
  const ports = rules.flatMap((r) => (r.ports ?? []).flatMap((p) => (p.kind === 'range' ? [p.from] : [])));
  return { pods, directions: [...directions], ports };
}

/** The program with only `direction` rules and policies whose subject holds one of `pods`. */
function trimmed(program: Program, direction: Direction, pods: readonly ClusterPod[], cluster: Cluster): Program {
  const evaluator = new Evaluator(program, cluster);
  const endpoints = pods.map((p) => podEndpoint(cluster, p));
  const relevant = new Map<string, boolean>();
  const holds = (groupId: string) => {
    let hit = relevant.get(groupId);
    if (hit === undefined) {
      hit = endpoints.some((e) => evaluator.inGroup(groupId, e));
      relevant.set(groupId, hit);
    }
    return hit;
  };
  const rules: Rule[] = program.rules.filter((r) => r.direction === direction && holds(r.subject));
  const policies = program.policies.filter((p) => holds(p.subject));
  return { ...program, rules, policies };
}

function diffFlows(before: Program, after: Program, key: string, cluster: Cluster, fullBefore: Evaluator, fullAfter: Evaluator) {
  const b = selectedPods(before, key, cluster, fullBefore);
  const a = selectedPods(after, key, cluster, fullAfter);
  const subjects = new Map<string, ClusterPod>();
  for (const p of [...b.pods, ...a.pods]) subjects.set(podKey(p), p);
  const directions = [...new Set([...b.directions, ...a.directions])];
  const extraPorts = [...new Set([...b.ports, ...a.ports])];
  const allows = new Set<string>();
  const blocks = new Set<string>();
  let checked = 0;
  let truncated = false;
  const all = cluster.pods.map((p) => ({ pod: p, endpoint: podEndpoint(cluster, p) }));
  for (const direction of directions) {
    const pods = [...subjects.values()];
    const sideBefore = new Evaluator(trimmed(before, direction, pods, cluster), cluster);
    const sideAfter = new Evaluator(trimmed(after, direction, pods, cluster), cluster);
    for (const subject of pods) {
      const subjectEndpoint = podEndpoint(cluster, subject);
      for (const other of all) {
        const [source, destination]: [Endpoint, Endpoint] = direction === 'ingress' ? [other.endpoint, subjectEndpoint] : [subjectEndpoint, other.endpoint];
        const destPod = direction === 'ingress' ? subject : other.pod;
        for (const [port, protocol] of portsOf(destPod, extraPorts)) {
          if (++checked > MAX_FLOWS) {
            truncated = true;
            break;
          }
          const flow: Flow = { source, destination, protocol, port };
          if (sideBefore.evaluateDirection(direction, flow).allowed === sideAfter.evaluateDirection(direction, flow).allowed) continue;
          const wasAllowed = fullBefore.evaluate(flow).allowed;
          const isAllowed = fullAfter.evaluate(flow).allowed;
          if (wasAllowed === isAllowed) continue;
          const label = `${podKey(source.kind === 'pod' ? source.pod : other.pod)} -> ${podKey(destPod)} : ${port}/${protocol}`;
          (isAllowed ? allows : blocks).add(label);
        }
      }
    }
  }
  return { allows: [...allows].sort(), blocks: [...blocks].sort(), checked: Math.min(checked, MAX_FLOWS), truncated };
}

/** The ports a destination pod defines, plus the port numbers the edited policy names (TCP). */
function portsOf(pod: ClusterPod, extra: readonly number[]): Array<[number, Protocol]> {
  const seen = new Map<string, [number, Protocol]>();
  for (const p of pod.ports) seen.set(`${p.port}/${p.protocol}`, [p.port, p.protocol]);
  for (const port of extra) if (!seen.has(`${port}/TCP`)) seen.set(`${port}/TCP`, [port, 'TCP']);
  return [...seen.values()];
}
