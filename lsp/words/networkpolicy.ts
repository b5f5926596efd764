// NetworkPolicy (networking.k8s.io/v1) in plain words, for hovers: the policy, its pod
// selector, policyTypes, the ingress/egress lists (empty vs missing vs `[{}]`), a rule, a peer,
// a port. Reads the object as written, so "missing" and "empty" stay distinguishable.

import { EVERYTHING } from '../../compiler/ir/selector.js';
import type { NamespaceMatch } from '../../compiler/ir/types.js';
import type { LintContext } from '../../compiler/lint/index.js';
import type { PathSegment } from '../../compiler/syntax/documents.js';
import { namespacesLine, podsLine } from './snapshot.js';
import { plural, readSelector, selectorWords } from './selectors.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const has = (o: Obj, k: string) => o[k] !== undefined && o[k] !== null;

type Direction = 'ingress' | 'egress';

/** policyTypes after the API server's defaulting. */
export function effectiveTypes(spec: Obj): { types: Direction[]; defaulted: boolean } {
  if (Array.isArray(spec.policyTypes) && spec.policyTypes.length > 0) {
    const types: Direction[] = [];
    if (spec.policyTypes.includes('Ingress')) types.push('ingress');
    if (spec.policyTypes.includes('Egress')) types.push('egress');
    return { types, defaulted: false };
  }
  return { types: Array.isArray(spec.egress) && spec.egress.length > 0 ? ['ingress', 'egress'] : ['ingress'], defaulted: true };
}

export class NetworkPolicyWords {
  private readonly spec: Obj;
  readonly namespace: string;
  private readonly subject: NamespaceMatch;

  constructor(
    private readonly object: Obj,
    private readonly ctx: LintContext,
  ) {
    this.spec = isObj(object.spec) ? object.spec : {};
    const meta = isObj(object.metadata) ? object.metadata : {};
    this.namespace = typeof meta.namespace === 'string' ? meta.namespace : 'default';
    this.subject = { kind: 'name', name: this.namespace };
  }

  /** The hover for a path inside the policy. */
  explain(path: readonly PathSegment[]): string[] {
    const [a, b, c, d, e] = path;
    if (a !== 'spec' || b === undefined) return this.policy();
    if (b === 'podSelector') return this.subjectSelector();
    if (b === 'policyTypes') return this.policyTypes();
    if ((b === 'ingress' || b === 'egress') && c === undefined) return this.list(b);
    if ((b === 'ingress' || b === 'egress') && typeof c === 'number') {
      const rule = (this.spec[b] as unknown[])[c];
      const peersKey = b === 'ingress' ? 'from' : 'to';
      if (d === peersKey && typeof e === 'number') return this.peer(b, rule, e);
      if (d === 'ports') return this.ports(b, rule, typeof e === 'number' ? e : undefined);
      return this.rule(b, rule, c);
    }
    return this.policy();
  }

  private name(): string {
    const meta = isObj(this.object.metadata) ? this.object.metadata : {};
    return `${this.namespace}/${typeof meta.name === 'string' ? meta.name : '(unnamed)'}`;
  }

  private subjectWords(): string {
    const sel = readSelector(this.spec.podSelector) ?? EVERYTHING;
    return `${selectorWords(sel, 'pod')} in namespace \`${this.namespace}\``;
  }

  policy(): string[] {
    const { types, defaulted } = effectiveTypes(this.spec);
    const lines = [`**NetworkPolicy \`${this.name()}\`** selects ${this.subjectWords()}.`];
    const snap = podsLine(this.ctx, this.subject, readSelector(this.spec.podSelector) ?? EVERYTHING);
    if (snap) lines.push(snap);
    lines.push(
      `It isolates them for **${types.join(' and ')}**${defaulted ? ' (policyTypes omitted: Ingress always, Egress because there are egress rules)' : ''}: ` +
        `once any NetworkPolicy isolates a pod for a direction, only what some NetworkPolicy rule allows gets through.`,
    );
    for (const dir of types) lines.push(this.listSummary(dir));
    lines.push('AdminNetworkPolicies are evaluated before NetworkPolicies; a BaselineAdminNetworkPolicy only applies to traffic no NetworkPolicy isolates.');
    return lines;
  }

  private subjectSelector(): string[] {
    const sel = readSelector(this.spec.podSelector) ?? EVERYTHING;
    const lines = [
      sel.requirements.length === 0
        ? `\`podSelector: {}\` selects **every pod in namespace \`${this.namespace}\`**.`
        : `The policy applies to ${selectorWords(sel, 'pod')} in namespace \`${this.namespace}\` (a NetworkPolicy only ever selects pods of its own namespace).`,
    ];
    const snap = podsLine(this.ctx, this.subject, sel);
    if (snap) lines.push(snap);
    return lines;
  }

  private policyTypes(): string[] {
    const { types, defaulted } = effectiveTypes(this.spec);
    const lines = [`**policyTypes**: the directions this policy isolates: **${types.join(' and ')}**.`];
    if (defaulted) lines.push('Omitted, it defaults to Ingress, plus Egress when there are egress rules: an egress-only policy then also denies all ingress.');
    for (const dir of ['ingress', 'egress'] as const) {
      if (!types.includes(dir)) {
        const rules = Array.isArray(this.spec[dir]) ? (this.spec[dir] as unknown[]).length : 0;
        lines.push(`${cap(dir)} is not isolated by this policy${rules > 0 ? `, so its ${plural(rules, `${dir} rule`)} are **ignored**` : ''}.`);
      }
    }
    return lines;
  }

  private listSummary(dir: Direction): string {
    const list = this.spec[dir];
    const rules = Array.isArray(list) ? list : [];
    if (rules.length === 0) return `${cap(dir)}: **no rules, so this policy allows no ${dir}** (all ${dir} of the selected pods is denied unless another NetworkPolicy allows it).`;
    if (rules.some((r) => isAllowAll(r, dir))) return `${cap(dir)}: a rule with no ${peersKeyOf(dir)} and no ports **allows all ${dir}**.`;
    return `${cap(dir)}: ${plural(rules.length, 'rule')}; ${dir} is allowed when any one of them matches.`;
  }

  private list(dir: Direction): string[] {
    const { types } = effectiveTypes(this.spec);
    const list = this.spec[dir];
    const lines: string[] = [];
    if (!types.includes(dir)) {
      lines.push(`These ${dir} rules are **ignored**: \`policyTypes\` does not list ${cap(dir)}.`);
      return lines;
    }
    if (Array.isArray(list) && list.length === 0) {
      lines.push(`\`${dir}: []\` **denies all ${dir}** to the selected pods: an empty list allows nothing (unlike \`${dir}: [{}]\`, which allows everything).`);
    } else if (!Array.isArray(list)) {
      lines.push(`No \`${dir}\` rules: the policy isolates ${dir} and **allows none** (all ${dir} is denied unless another NetworkPolicy allows it).`);
    } else {
      lines.push(this.listSummary(dir));
      if (list.some((r) => isAllowAll(r, dir))) lines.push(`\`${dir}: [{}]\` is allow-all; \`${dir}: []\` would be deny-all.`);
    }
    return lines;
  }

  private rule(dir: Direction, rule: unknown, index: number): string[] {
    const r = isObj(rule) ? rule : {};
    const key = peersKeyOf(dir);
    const peers = r[key];
    const toFrom = dir === 'ingress' ? 'from' : 'to';
    const who = !Array.isArray(peers) || peers.length === 0
      ? `**any ${dir === 'ingress' ? 'source' : 'destination'}** (no \`${key}\`${Array.isArray(peers) ? ' entries' : ''}: every pod and every address)`
      : peers.length === 1
        ? this.peerWords(peers[0])
        : `any of ${peers.length} peers (ORed): ${peers.map((p) => this.peerWords(p)).join('; ')}`;
    const lines = [
      `**${cap(dir)} rule ${index}** allows traffic ${dir === 'ingress' ? 'to' : 'from'} the selected pods (${this.subjectWords()}) ${toFrom} ${who}, on ${this.portsWords(r.ports)}.`,
    ];
    if (isAllowAll(rule, dir)) lines.push(`An empty rule (\`{}\`) allows all ${dir}.`);
    return lines;
  }

  private peerWords(peer: unknown): string {
    if (!isObj(peer)) return 'an empty peer (rejected by the API server)';
    if (isObj(peer.ipBlock)) {
      const except = Array.isArray(peer.ipBlock.except) && peer.ipBlock.except.length > 0 ? ` except ${peer.ipBlock.except.map((x) => `\`${String(x)}\``).join(', ')}` : '';
      return `addresses in \`${String(peer.ipBlock.cidr)}\`${except}`;
    }
    const pods = readSelector(peer.podSelector);
    const nss = readSelector(peer.namespaceSelector);
    if (pods && nss) return `${selectorWords(pods, 'pod')} **in** ${nss.requirements.length === 0 ? 'any namespace' : selectorWords(nss, 'namespace')}`;
    if (nss) return nss.requirements.length === 0 ? 'every pod in every namespace' : `every pod in ${selectorWords(nss, 'namespace')}`;
    if (pods) return `${selectorWords(pods, 'pod')} in this policy's namespace \`${this.namespace}\``;
    return 'an empty peer (rejected by the API server)';
  }

  private peer(dir: Direction, rule: unknown, index: number): string[] {
    const key = peersKeyOf(dir);
    const peer = isObj(rule) && Array.isArray(rule[key]) ? (rule[key] as unknown[])[index] : undefined;
    const lines = [`**Peer ${index}** (${dir === 'ingress' ? 'source' : 'destination'}): ${this.peerWords(peer)}.`];
    if (!isObj(peer)) return lines;
    const pods = readSelector(peer.podSelector);
    const nss = readSelector(peer.namespaceSelector);
    if (isObj(peer.ipBlock)) {
      lines.push('ipBlock is meant for addresses outside the cluster: Service IPs are translated to pod IPs before policy applies, and whether pod IPs match depends on the network plugin.');
      return lines;
    }
    if (pods && nss) lines.push('Both selectors are in **one** peer, so both must hold (AND). As two list items (`- namespaceSelector` and `- podSelector`) they would be ORed.');
    else if (pods) lines.push('A podSelector alone only reaches pods of the policy\'s own namespace; add a namespaceSelector in the same item for other namespaces.');
    else if (nss && nss.requirements.length === 0) lines.push('`namespaceSelector: {}` matches every namespace.');
    if (nss) {
      const ns = namespacesLine(this.ctx, nss);
      if (ns) lines.push(ns);
    }
    const match: NamespaceMatch = nss ? { kind: 'selector', selector: nss } : { kind: 'name', name: this.namespace };
    const snap = podsLine(this.ctx, match, pods ?? EVERYTHING);
    if (snap) lines.push(snap);
    return lines;
  }

  private portsWords(ports: unknown): string {
    if (!Array.isArray(ports) || ports.length === 0) return '**every port and protocol**';
    return ports.map(portWords).join(', or ');
  }

  private ports(dir: Direction, rule: unknown, index: number | undefined): string[] {
    const ports = isObj(rule) ? rule.ports : undefined;
    if (index === undefined || !Array.isArray(ports)) return [`Ports: ${this.portsWords(ports)}. An empty or missing list means every port; entries are ORed.`];
    const port = ports[index];
    const lines = [`**Port ${index}**: ${portWords(port)}.`];
    if (isObj(port) && !has(port, 'protocol')) lines.push('`protocol` is omitted: it defaults to **TCP**.');
    if (isObj(port) && typeof port.port === 'string' && !/^\d+$/.test(port.port)) {
      const name = port.port;
      lines.push(`A named port is looked up on each destination pod's containers; pods that define no \`${name}\` port are not reachable through this entry.`);
      if (dir === 'ingress' && this.ctx.hasPods) {
        const sel = readSelector(this.spec.podSelector) ?? EVERYTHING;
        const pods = this.ctx.podsMatching(this.subject, sel);
        const proto = typeof port.protocol === 'string' ? port.protocol : 'TCP';
        const defs = pods.map((p) => {
          const hit = p.ports.find((x) => x.name === name && x.protocol === proto);
          return `\`${p.namespace}/${p.name}\`: ${hit ? `${hit.port}/${hit.protocol}` : 'not defined'}`;
        });
        if (defs.length) lines.push(`In the snapshot: ${defs.slice(0, 8).join(', ')}${defs.length > 8 ? `, and ${defs.length - 8} more` : ''}.`);
      }
    }
    return lines;
  }
}

export function portWords(port: unknown): string {
  if (!isObj(port)) return 'every TCP port';
  const proto = typeof port.protocol === 'string' ? port.protocol : 'TCP';
  if (!has(port, 'port')) return `every ${proto} port`;
  if (typeof port.port === 'string' && !/^\d+$/.test(port.port)) return `the ${proto} port named \`${port.port}\``;
  if (typeof port.endPort === 'number') return `${proto} ports ${String(port.port)}-${port.endPort}`;
  return `${proto} port ${String(port.port)}`;
}

function peersKeyOf(dir: Direction): 'from' | 'to' {
  return dir === 'ingress' ? 'from' : 'to';
}

function isAllowAll(rule: unknown, dir: Direction): boolean {
  if (rule === null) return true;
  if (!isObj(rule)) return false;
  const peers = rule[peersKeyOf(dir)];
  const noPeers = !Array.isArray(peers) || peers.length === 0;
  const noPorts = !Array.isArray(rule.ports) || rule.ports.length === 0;
  return noPeers && noPorts;
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
