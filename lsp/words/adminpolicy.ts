// AdminNetworkPolicy and BaselineAdminNetworkPolicy in plain words, for hovers.

import { EVERYTHING } from '../../compiler/ir/selector.js';
import type { LintContext } from '../../compiler/lint/index.js';
import type { PathSegment } from '../../compiler/syntax/documents.js';
import { namespacesLine, podsLine } from './snapshot.js';
import { plural, readSelector, selectorWords } from './selectors.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export class AdminPolicyWords {
  private readonly spec: Obj;
  private readonly baseline: boolean;

  constructor(
    private readonly object: Obj,
    private readonly ctx: LintContext,
  ) {
    this.spec = isObj(object.spec) ? object.spec : {};
    this.baseline = object.kind === 'BaselineAdminNetworkPolicy';
  }

  explain(path: readonly PathSegment[]): string[] {
    const [a, b, c, d, e] = path;
    if (a !== 'spec' || b === undefined) return this.policy();
    if (b === 'subject') return this.subject();
    if (b === 'priority') return [this.priorityWords()];
    if ((b === 'ingress' || b === 'egress') && typeof c === 'number') {
      const list = this.spec[b];
      const rule = Array.isArray(list) ? list[c] : undefined;
      const key = b === 'ingress' ? 'from' : 'to';
      if (d === key && typeof e === 'number' && isObj(rule) && Array.isArray(rule[key])) return this.peer(rule[key][e], e);
      return this.rule(b, rule, c);
    }
    if (b === 'ingress' || b === 'egress') return [this.listWords(b)];
    return this.policy();
  }

  private kind(): string {
    return this.baseline ? 'BaselineAdminNetworkPolicy' : 'AdminNetworkPolicy';
  }

  private priorityWords(): string {
    if (this.baseline) return 'A BaselineAdminNetworkPolicy has no priority: it is evaluated **after** NetworkPolicies, as the cluster default.';
    return `Priority ${String(this.spec.priority)}: lower numbers are evaluated first; two AdminNetworkPolicies with the same priority have no defined order. Every AdminNetworkPolicy is evaluated **before** any NetworkPolicy.`;
  }

  private subjectWords(): string {
    const subject = isObj(this.spec.subject) ? this.spec.subject : {};
    if (isObj(subject.pods)) {
      const ns = readSelector(subject.pods.namespaceSelector) ?? EVERYTHING;
      return `${selectorWords(readSelector(subject.pods.podSelector) ?? EVERYTHING, 'pod')} in ${ns.requirements.length ? selectorWords(ns, 'namespace') : 'any namespace'}`;
    }
    const ns = readSelector(subject.namespaces) ?? EVERYTHING;
    return ns.requirements.length ? `every pod in ${selectorWords(ns, 'namespace')}` : 'every pod in every namespace';
  }

  policy(): string[] {
    const meta = isObj(this.object.metadata) ? this.object.metadata : {};
    const lines = [`**${this.kind()} \`${String(meta.name ?? '')}\`** applies to ${this.subjectWords()}.`, this.priorityWords()];
    const snap = this.subjectSnapshot();
    if (snap) lines.push(snap);
    for (const dir of ['ingress', 'egress'] as const) lines.push(this.listWords(dir));
    lines.push(this.baseline ? 'Rules are tried in order; the first that matches decides (Allow or Deny).' : 'Rules are tried in order; the first that matches decides: Allow and Deny are final (no NetworkPolicy can change them), Pass hands the connection to NetworkPolicies.');
    return lines;
  }

  private subjectSnapshot(): string | undefined {
    const subject = isObj(this.spec.subject) ? this.spec.subject : {};
    if (isObj(subject.pods)) {
      return podsLine(this.ctx, { kind: 'selector', selector: readSelector(subject.pods.namespaceSelector) ?? EVERYTHING }, readSelector(subject.pods.podSelector) ?? EVERYTHING);
    }
    return podsLine(this.ctx, { kind: 'selector', selector: readSelector(subject.namespaces) ?? EVERYTHING }, EVERYTHING);
  }

  private subject(): string[] {
    const lines = [`The subject: ${this.subjectWords()}.`];
    const snap = this.subjectSnapshot();
    if (snap) lines.push(snap);
    return lines;
  }

  private listWords(dir: 'ingress' | 'egress'): string {
    const list = Array.isArray(this.spec[dir]) ? (this.spec[dir] as unknown[]) : [];
    if (list.length === 0) return `${dir === 'ingress' ? 'Ingress' : 'Egress'}: no rules, so this policy does not affect ${dir} (unlike a NetworkPolicy, an empty list isolates nothing).`;
    return `${dir === 'ingress' ? 'Ingress' : 'Egress'}: ${plural(list.length, 'rule')}, first match wins.`;
  }

  private rule(dir: 'ingress' | 'egress', rule: unknown, index: number): string[] {
    const r = isObj(rule) ? rule : {};
    const key = dir === 'ingress' ? 'from' : 'to';
    const peers = Array.isArray(r[key]) ? (r[key] as unknown[]) : [];
    const who = peers.length === 0 ? 'nothing (no peers)' : peers.map((p) => this.peerWords(p)).join('; or ');
    const action = String(r.action ?? '');
    const verb =
      action === 'Allow'
        ? this.baseline ? 'allows' : '**allows** (no NetworkPolicy can deny it)'
        : action === 'Deny'
          ? this.baseline ? '**denies**' : '**denies** (no NetworkPolicy can allow it)'
          : action === 'Pass'
            ? '**passes** to NetworkPolicies (skipping the remaining AdminNetworkPolicy rules)'
            : `does \`${action}\` to`;
    const name = typeof r.name === 'string' ? ` \`${r.name}\`` : '';
    return [`**${dir === 'ingress' ? 'Ingress' : 'Egress'} rule ${index}${name}** ${verb} traffic ${dir === 'ingress' ? 'from' : 'to'} ${who}, on ${portsWords(r.ports)}, for ${this.subjectWords()}.`];
  }

  private peerWords(peer: unknown): string {
    if (!isObj(peer)) return 'an empty peer';
    if (isObj(peer.pods)) {
      const ns = readSelector(peer.pods.namespaceSelector) ?? EVERYTHING;
      return `${selectorWords(readSelector(peer.pods.podSelector) ?? EVERYTHING, 'pod')} in ${ns.requirements.length ? selectorWords(ns, 'namespace') : 'any namespace'}`;
    }
    if (peer.namespaces !== undefined) {
      const ns = readSelector(peer.namespaces) ?? EVERYTHING;
      return ns.requirements.length ? `every pod in ${selectorWords(ns, 'namespace')}` : 'every pod in every namespace';
    }
    if (peer.nodes !== undefined) return `${selectorWords(readSelector(peer.nodes) ?? EVERYTHING, 'node')} (node addresses)`;
    if (Array.isArray(peer.networks)) return `addresses in ${peer.networks.map((n) => `\`${String(n)}\``).join(', ')}`;
    return 'an empty peer';
  }

  private peer(peer: unknown, index: number): string[] {
    const lines = [`**Peer ${index}**: ${this.peerWords(peer)}.`];
    if (!isObj(peer)) return lines;
    if (isObj(peer.pods)) {
      const ns = readSelector(peer.pods.namespaceSelector) ?? EVERYTHING;
      const snap = podsLine(this.ctx, { kind: 'selector', selector: ns }, readSelector(peer.pods.podSelector) ?? EVERYTHING);
      if (snap) lines.push(snap);
    } else if (peer.namespaces !== undefined) {
      const snap = namespacesLine(this.ctx, readSelector(peer.namespaces) ?? EVERYTHING);
      if (snap) lines.push(snap);
    } else if (Array.isArray(peer.networks) && peer.networks.some((n) => /\/0$/.test(String(n)))) {
      lines.push('A `/0` network also matches pod addresses, not only traffic leaving the cluster.');
    }
    return lines;
  }
}

function portsWords(ports: unknown): string {
  if (!Array.isArray(ports) || ports.length === 0) return 'every port';
  return ports
    .map((p) => {
      if (!isObj(p)) return 'an empty port';
      if (isObj(p.portNumber)) return `${String(p.portNumber.protocol ?? 'TCP')} port ${String(p.portNumber.port)}`;
      if (isObj(p.portRange)) return `${String(p.portRange.protocol ?? 'TCP')} ports ${String(p.portRange.start)}-${String(p.portRange.end)}`;
      if (typeof p.namedPort === 'string') return `the port named \`${p.namedPort}\``;
      return 'an empty port';
    })
    .join(', or ');
}
