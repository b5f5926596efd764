// The iptables-style baseline of bench/dataplane-throughput.ts: the lowering of
// compiler/emit/nftables/linear.ts (emitLinear: one rule per (IR rule, subject address, peer
// address or CIDR, port), walked in order), generated lazily so it can be
//   - counted at sizes where it cannot be built (rules are counted arithmetically),
//   - scoped to one node (subjects restricted to the node's pods, as per-node iptables
//     implementations install them),
//   - capped: when the full lowering has more rules than the cap, the loaded chain is the true
//     prefix of every chain the benchmark flow walks through (budget shared between them), plus
//     the rule that really matches the flow and the chains' fixed tails. Every rule loaded before
//     the match is a rule the flow really traverses in the full lowering, so the loaded chain's
//     cost is a lower bound of the full one's.
// Uncapped and unscoped, the document is byte-for-byte emitLinear's (`verifyAgainstEmitLinear`).

import type { Cluster, ClusterPod } from '../compiler/model/cluster.js';
import type { Direction, Peer, PortMatch, Program, Rule } from '../compiler/ir/types.js';
import { cidrContains, cidrRange, formatIp, parseCidr, parseIp, rangeToCidrs, subtractRanges, type Family } from '../compiler/ir/cidr.js';
import { selectorMatches } from '../compiler/ir/selector.js';
import { commentText, cookieHex, decidingRules, ruleChain } from '../compiler/emit/nftables/ruleset.js';
import { emitLinear, portMatches } from '../compiler/emit/nftables/linear.js';
import { replaceTable, type NftCommand, type NftDocument, type NftExpression, type NftStatement } from '../compiler/emit/nftables/schema.js';

export interface LinearPacket {
  readonly family: Family;
  readonly saddr: string;
  readonly daddr: string;
  readonly proto: number;
  readonly dport: number;
}

interface Address {
  readonly family: Family;
  readonly expr: string;
}
interface PeerAddress {
  readonly expr?: NftExpression;
  readonly pod?: ClusterPod;
}
type Item = { readonly kind: 'fixed'; readonly expr: NftStatement[]; readonly comment?: string } | { readonly kind: 'expansion'; readonly rule: Rule; readonly d: Direction };
interface GeneratedRule {
  readonly expr: NftStatement[];
  readonly comment?: string;
}

function hostAddress(text: string): Address | undefined {
  const ip = parseIp(text);
  return ip ? { family: ip.family, expr: formatIp(ip) } : undefined;
}

function podAddresses(pod: ClusterPod): Address[] {
  return pod.ips.map(hostAddress).filter((a): a is Address => !!a);
}

const addrMatch = (f: Family, side: 'saddr' | 'daddr', a: NftExpression): NftStatement => ({ match: { op: '==', left: { payload: { protocol: f === 4 ? 'ip' : 'ip6', field: side } }, right: a } });

function portsKey(ports: readonly PortMatch[] | undefined): string {
  if (!ports) return '*';
  return ports.map((p) => (p.kind === 'range' ? `r${p.protocol}${p.from}-${p.to}` : p.kind === 'all' ? `a${p.protocol}` : `n${p.protocol ?? ''}:${p.name}`)).join(',');
}

// ---- a tiny interpreter for the statement subset the linear lowering uses

function matchAddress(right: NftExpression, family: Family, value: bigint): boolean {
  if (typeof right === 'string') {
    const ip = parseIp(right);
    return !!ip && ip.family === family && ip.value === value;
  }
  if (right && typeof right === 'object' && 'prefix' in right) {
    const c = parseCidr(`${right.prefix.addr}/${right.prefix.len}`);
    return !!c && cidrContains(c, { family, value });
  }
  throw new Error(`unsupported address match ${JSON.stringify(right)}`);
}

interface ParsedPacket {
  readonly family: Family;
  readonly saddr: bigint;
  readonly daddr: bigint;
  readonly proto: number;
  readonly dport: number;
}

function parsePacket(p: LinearPacket): ParsedPacket {
  const s = parseIp(p.saddr);
  const d = parseIp(p.daddr);
  if (!s || !d) throw new Error('bad packet addresses');
  return { family: p.family, saddr: s.value, daddr: d.value, proto: p.proto, dport: p.dport };
}

/** Whether every match statement of a rule matches a NEW packet. */
function statementsMatch(expr: readonly NftStatement[], pkt: ParsedPacket): boolean {
  for (const st of expr) {
    if (!('match' in st)) continue;
    const m = st.match as unknown as { op: string; left: Record<string, Record<string, string>>; right: NftExpression };
    const left = m.left;
    if (left.ct?.key === 'state') return false; // established/related/invalid: never a NEW packet
    if (left.meta?.key === 'l4proto') {
      if (m.right !== pkt.proto) return false;
      continue;
    }
    if (left.payload) {
      const { protocol, field } = left.payload;
      if (protocol === 'th' && field === 'dport') {
        const r = m.right;
        if (typeof r === 'number' ? r !== pkt.dport : !(r && typeof r === 'object' && 'range' in r && Number(r.range[0]) <= pkt.dport && pkt.dport <= Number(r.range[1]))) return false;
        continue;
      }
      if (protocol === 'ip' || protocol === 'ip6') {
        if ((protocol === 'ip' ? 4 : 6) !== pkt.family) return false;
        if (!matchAddress(m.right, pkt.family, field === 'saddr' ? pkt.saddr : pkt.daddr)) return false;
        continue;
      }
    }
    throw new Error(`unsupported match ${JSON.stringify(st)}`);
  }
  return true;
}

type Verdict = { kind: 'jump' | 'goto'; target: string } | { kind: 'accept' | 'drop' | 'return' } | undefined;

function verdictOf(expr: readonly NftStatement[]): Verdict {
  for (const st of expr) {
    if ('jump' in st) return { kind: 'jump', target: st.jump.target };
    if ('goto' in st) return { kind: 'goto', target: st.goto.target };
    if ('accept' in st) return { kind: 'accept' };
    if ('drop' in st) return { kind: 'drop' };
    if ('return' in st) return { kind: 'return' };
  }
  return undefined;
}

/** Chains as: rules in order, or counted items with a first-match function. */
interface ChainWalker {
  /** Number of rules evaluated until a match (1-based position), or the chain length; and the match. */
  walk(chain: string): { evaluated: number; verdict: Verdict };
}

/** Follows jump/goto/return from `forward` for one NEW packet; counts every rule evaluated. */
function traverse(w: ChainWalker): { rules: number; verdict: 'accept' | 'drop'; path: Array<{ chain: string; evaluated: number }> } {
  const stack: string[] = [];
  let chain = 'forward';
  let rules = 0;
  const path: Array<{ chain: string; evaluated: number }> = [];
  // Resume points: per jump we remember the chain and how far it got (the walker restarts after it).
  const resume: Array<{ chain: string; skip: number }> = [];
  let skip = 0;
  for (let steps = 0; steps < 10_000; steps++) {
    const r = w.walk(skip > 0 ? `${chain}#${skip}` : chain);
    rules += r.evaluated;
    path.push({ chain, evaluated: r.evaluated });
    const v = r.verdict;
    if (!v || v.kind === 'return') {
      const back = resume.pop();
      if (!back) return { rules, verdict: 'accept', path }; // base chain policy accept
      stack.pop();
      chain = back.chain;
      skip = back.skip;
      continue;
    }
    if (v.kind === 'accept' || v.kind === 'drop') return { rules, verdict: v.kind, path };
    if (!('target' in v)) throw new Error('unreachable');
    if (v.kind === 'jump') {
      resume.push({ chain, skip: skip + r.evaluated });
      stack.push(chain);
    }
    chain = v.target;
    skip = 0;
  }
  throw new Error('chain walk did not terminate');
}

/** Rules a NEW packet evaluates in a loaded linear document (and its verdict). */
export function traverseDocument(doc: NftDocument, table: string, packet: LinearPacket): { rules: number; verdict: 'accept' | 'drop' } {
  const chains = new Map<string, NftStatement[][]>();
  for (const c of doc.nftables) {
    if (!('add' in c)) continue;
    const o = c.add;
    if ('chain' in o && o.chain.table === table) chains.set(o.chain.name, chains.get(o.chain.name) ?? []);
    else if ('rule' in o && o.rule.table === table) chains.get(o.rule.chain)!.push([...o.rule.expr]);
  }
  const pkt = parsePacket(packet);
  const t = traverse({
    walk(name) {
      const [chain, skipText] = name.split('#');
      const rules = chains.get(chain);
      if (!rules) throw new Error(`no chain ${chain}`);
      const skip = Number(skipText ?? 0);
      for (let i = skip; i < rules.length; i++) if (statementsMatch(rules[i], pkt)) return { evaluated: i - skip + 1, verdict: verdictOf(rules[i]) };
      return { evaluated: rules.length - skip, verdict: undefined };
    },
  });
  return { rules: t.rules, verdict: t.verdict };
}

export interface LinearOptions {
  readonly table: string;
  /** Only these pods are subjects (node scope); undefined = every pod (emitLinear). */
  readonly localPods?: ReadonlySet<string>;
  /** Most policy rules to load. */
  readonly cap: number;
  readonly packet: LinearPacket;
}

export interface LinearPlan {
  readonly document: NftDocument;
  /** Rules of the full lowering in this scope (emitLinear's counts.rules when unscoped). */
  readonly fullRules: number;
  readonly loadedRules: number;
  readonly capped: boolean;
  /** Rules a NEW packet of the flow evaluates in the full lowering, and in the loaded document. */
  readonly traversedFull: number;
  readonly traversedLoaded: number;
  readonly verdictFull: 'accept' | 'drop';
  readonly path: ReadonlyArray<{ chain: string; evaluated: number }>;
}

export function planLinear(program: Program, cluster: Cluster, members: ReadonlyMap<string, readonly ClusterPod[]>, options: LinearOptions): LinearPlan {
  const { table } = options;
  const family = 'inet' as const;
  const local = options.localPods;
  const pkt = parsePacket(options.packet);
  const isLocal = (p: ClusterPod) => !local || local.has(`${p.namespace}/${p.name}`);
  const membersOf = (g: string): readonly ClusterPod[] => members.get(g) ?? [];
  const subjectCache = new Map<string, readonly ClusterPod[]>();
  const subjectsOf = (g: string): readonly ClusterPod[] => {
    let s = subjectCache.get(g);
    if (!s) subjectCache.set(g, (s = local ? membersOf(g).filter(isLocal) : membersOf(g)));
    return s;
  };

  // Peer addresses, cached.
  const peerCache = new Map<string, PeerAddress[]>();
  const peerKey = (peer: Peer, f: Family): string => {
    switch (peer.kind) {
      case 'any':
        return `any|${f}`;
      case 'pods':
        return `pods|${peer.group}|${f}`;
      case 'cidr':
        return `cidr|${peer.cidr}|${peer.except.join(',')}|${f}`;
      case 'nodes':
        return `nodes|${JSON.stringify(peer.selector)}|${f}`;
    }
  };
  const peerAddresses = (peer: Peer, f: Family): PeerAddress[] => {
    const key = peerKey(peer, f);
    let out = peerCache.get(key);
    if (out) return out;
    switch (peer.kind) {
      case 'any':
        out = [{}];
        break;
      case 'pods':
        out = membersOf(peer.group).flatMap((pod) => podAddresses(pod).filter((a) => a.family === f).map((a) => ({ expr: a.expr, pod })));
        break;
      case 'cidr': {
        const c = parseCidr(peer.cidr);
        if (!c || c.family !== f) {
          out = [];
          break;
        }
        const holes = peer.except.map(parseCidr).filter((x): x is NonNullable<typeof x> => !!x).map(cidrRange);
        out = subtractRanges(cidrRange(c), holes)
          .flatMap(rangeToCidrs)
          .map((x) => ({ expr: { prefix: { addr: formatIp({ family: f, value: x.network }), len: x.prefix } } }));
        break;
      }
      case 'nodes':
        out = cluster.nodes
          .filter((n) => selectorMatches(peer.selector, n.labels))
          .flatMap((n) => n.ips.map(hostAddress).filter((a): a is Address => !!a && a.family === f).map((a) => ({ expr: a.expr })));
        break;
    }
    peerCache.set(key, out);
    return out;
  };

  // Counting.
  const egressCountCache = new Map<string, number>();
  const egressPerAddress = (r: Rule, f: Family): number => {
    let total = 0;
    for (const peer of r.peers) {
      const key = `${peerKey(peer, f)}#${portsKey(r.ports)}`;
      let n = egressCountCache.get(key);
      if (n === undefined) {
        n = 0;
        for (const p of peerAddresses(peer, f)) n += portMatches(r.ports, p.pod ? [p.pod] : []).length;
        egressCountCache.set(key, n);
      }
      total += n;
    }
    return total;
  };
  const ingressPeerAddresses = (r: Rule, f: Family): number => r.peers.reduce((k, peer) => k + peerAddresses(peer, f).length, 0);
  const addressCount = (r: Rule, d: Direction, subject: ClusterPod, s: Address): number =>
    d === 'egress' ? egressPerAddress(r, s.family) : portMatches(r.ports, [subject]).length * ingressPeerAddresses(r, s.family);
  const expansionCount = (r: Rule, d: Direction): number => {
    let n = 0;
    for (const subject of subjectsOf(r.subject)) for (const s of podAddresses(subject)) n += addressCount(r, d, subject, s);
    return n;
  };

  const verdictFor = (r: Rule, np: string): NftStatement => (r.action === 'pass' ? { goto: { target: np } } : { goto: { target: ruleChain(r) } });

  /** Rules of one (subject, address), in emitLinear's order. */
  function* subjectRules(r: Rule, d: Direction, subject: ClusterPod, s: Address, np: string): Generator<GeneratedRule> {
    const subjectSide = d === 'egress' ? 'saddr' : 'daddr';
    const peerSide = d === 'egress' ? 'daddr' : 'saddr';
    const verdict = verdictFor(r, np);
    for (const peer of r.peers) {
      for (const p of peerAddresses(peer, s.family)) {
        const destinations = d === 'ingress' ? [subject] : p.pod ? [p.pod] : [];
        for (const port of portMatches(r.ports, destinations)) {
          const expr: NftStatement[] = [addrMatch(s.family, subjectSide, s.expr)];
          if (p.expr !== undefined) expr.push(addrMatch(s.family, peerSide, p.expr));
          expr.push(...port, verdict);
          yield { expr, comment: r.id };
        }
      }
    }
  }
  function* expansionRules(r: Rule, d: Direction, np: string): Generator<GeneratedRule> {
    for (const subject of subjectsOf(r.subject)) for (const s of podAddresses(subject)) yield* subjectRules(r, d, subject, s, np);
  }

  /** First rule of an expansion that matches the packet: 0-based offset and the rule. */
  const expansionMatch = (r: Rule, d: Direction, np: string): { offset: number; rule: GeneratedRule } | undefined => {
    const subjectIp = d === 'egress' ? pkt.saddr : pkt.daddr;
    let offset = 0;
    for (const subject of subjectsOf(r.subject)) {
      for (const s of podAddresses(subject)) {
        const ip = parseIp(s.expr)!;
        if (ip.family !== pkt.family || ip.value !== subjectIp) {
          offset += addressCount(r, d, subject, s);
          continue;
        }
        for (const g of subjectRules(r, d, subject, s, np)) {
          if (statementsMatch(g.expr, pkt)) return { offset, rule: g };
          offset++;
        }
      }
    }
    return undefined;
  };

  // Chain layout (emitLinear's).
  const chainsOrder: string[] = ['forward'];
  const items = new Map<string, Item[]>();
  const push = (chain: string, item: Item) => {
    let l = items.get(chain);
    if (!l) items.set(chain, (l = []));
    l.push(item);
  };
  const fixed = (chain: string, expr: NftStatement[], comment?: string) => push(chain, { kind: 'fixed', expr, comment });
  fixed('forward', [{ match: { op: 'in', left: { ct: { key: 'state' } }, right: ['established', 'related'] } }, { accept: null }]);
  fixed('forward', [{ match: { op: 'in', left: { ct: { key: 'state' } }, right: 'invalid' } }, { drop: null }]);
  fixed('forward', [{ jump: { target: 'lin_egress' } }]);
  fixed('forward', [{ jump: { target: 'lin_ingress' } }]);
  fixed('forward', [{ accept: null }]);
  const groupsIsolated = new Map<Direction, ClusterPod[]>();
  for (const d of ['egress', 'ingress'] as const) {
    const admin = `lin_${d}`;
    const np = `lin_${d}_np`;
    const baseline = `lin_${d}_baseline`;
    chainsOrder.push(admin, np, baseline, `drop_isolated_${d}`);
    fixed(`drop_isolated_${d}`, [{ counter: { packets: 0, bytes: 0 } }, { drop: null }], `isolated by NetworkPolicy (${d})`);
    const dirRules = program.rules.filter((r) => r.direction === d);
    for (const r of dirRules.filter((x) => x.tier === 'admin')) push(admin, { kind: 'expansion', rule: r, d });
    fixed(admin, [{ goto: { target: np } }]);
    for (const r of dirRules.filter((x) => x.tier === 'networkpolicy')) push(np, { kind: 'expansion', rule: r, d });
    const isolated = new Set<ClusterPod>();
    for (const p of program.policies) if (p.tier === 'networkpolicy' && p.isolates.includes(d)) for (const pod of subjectsOf(p.subject)) isolated.add(pod);
    const sorted = [...isolated].sort((a, b) => (`${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1));
    groupsIsolated.set(d, sorted);
    const subjectSide = d === 'egress' ? 'saddr' : 'daddr';
    for (const pod of sorted) for (const s of podAddresses(pod)) fixed(np, [addrMatch(s.family, subjectSide, s.expr), { goto: { target: `drop_isolated_${d}` } }], `isolated ${pod.namespace}/${pod.name}`);
    fixed(np, [{ goto: { target: baseline } }]);
    for (const r of dirRules.filter((x) => x.tier === 'baseline')) push(baseline, { kind: 'expansion', rule: r, d });
    if (!items.has(baseline)) items.set(baseline, []);
  }
  const deciding = decidingRules(program);
  for (const r of deciding) {
    const name = ruleChain(r);
    chainsOrder.push(name);
    fixed(name, [{ counter: { packets: 0, bytes: 0 } }, r.action === 'allow' ? { return: null } : { drop: null }], `${r.id} ${cookieHex(r.cookie)}`);
  }
  const npOf = (chain: string): string => {
    const m = /^lin_(egress|ingress)/.exec(chain);
    return m ? `lin_${m[1]}_np` : '';
  };
  const itemCount = (chain: string, it: Item): number => (it.kind === 'fixed' ? 1 : expansionCount(it.rule, it.d));
  const countCache = new Map<Item, number>();
  const counted = (chain: string, it: Item): number => {
    let n = countCache.get(it);
    if (n === undefined) countCache.set(it, (n = itemCount(chain, it)));
    return n;
  };

  // Full lowering: size and the flow's walk (first match per chain, counted arithmetically).
  let fullRules = 0;
  for (const [chain, list] of items) for (const it of list) fullRules += counted(chain, it);
  const matchInChain = new Map<string, { index: number; offset: number; rule: GeneratedRule; evaluated: number } | { index: -1; evaluated: number }>();
  const walkFull = (chain: string) => {
    let m = matchInChain.get(chain);
    if (m) return m;
    const list = items.get(chain) ?? [];
    let evaluated = 0;
    for (let i = 0; i < list.length; i++) {
      const it = list[i];
      if (it.kind === 'fixed') {
        if (statementsMatch(it.expr, pkt)) {
          m = { index: i, offset: 0, rule: { expr: it.expr, comment: it.comment }, evaluated: evaluated + 1 };
          break;
        }
        evaluated++;
        continue;
      }
      const hit = expansionMatch(it.rule, it.d, npOf(chain));
      if (hit) {
        m = { index: i, offset: hit.offset, rule: hit.rule, evaluated: evaluated + hit.offset + 1 };
        break;
      }
      evaluated += counted(chain, it);
    }
    m ??= { index: -1, evaluated };
    matchInChain.set(chain, m);
    return m;
  };
  const full = traverse({
    walk(name) {
      const [chain, skipText] = name.split('#');
      if (skipText) {
        // Resuming forward after a jump: forward has only fixed rules.
        const list = items.get(chain)!;
        const skip = Number(skipText);
        for (let i = skip; i < list.length; i++) {
          const it = list[i] as Extract<Item, { kind: 'fixed' }>;
          if (statementsMatch(it.expr, pkt)) return { evaluated: i - skip + 1, verdict: verdictOf(it.expr) };
        }
        return { evaluated: list.length - skip, verdict: undefined };
      }
      const m = walkFull(chain);
      return { evaluated: m.evaluated, verdict: m.index >= 0 ? verdictOf((m as { rule: GeneratedRule }).rule.expr) : undefined };
    },
  });

  // What to load.
  const capped = fullRules > options.cap;
  const ruleCmds: NftCommand[] = [];
  const addRule = (chain: string, g: GeneratedRule) =>
    ruleCmds.push({ add: { rule: g.comment ? { family, table, chain, comment: commentText(g.comment), expr: g.expr } : { family, table, chain, expr: g.expr } } });
  let loadedChains: string[];
  if (!capped) {
    for (const chain of chainsOrder) {
      const np = npOf(chain);
      for (const it of items.get(chain) ?? []) {
        if (it.kind === 'fixed') addRule(chain, { expr: it.expr, comment: it.comment });
        else for (const g of expansionRules(it.rule, it.d, np)) addRule(chain, g);
      }
    }
    loadedChains = chainsOrder;
  } else {
    // Budget over the policy chains the flow walks: each gets min(its true prefix, fair share).
    const visited = full.path.map((p) => p.chain).filter((c, i, a) => /^lin_/.test(c) && a.indexOf(c) === i);
    const prefix = new Map(visited.map((c) => {
      const m = walkFull(c);
      return [c, m.index >= 0 ? m.evaluated - 1 : m.evaluated] as const;
    }));
    const alloc = new Map<string, number>();
    let budget = options.cap;
    let open = [...visited];
    while (open.length > 0) {
      const share = Math.floor(budget / open.length);
      const small = open.filter((c) => prefix.get(c)! - (alloc.get(c) ?? 0) <= share);
      if (small.length === 0) {
        for (const c of open) alloc.set(c, (alloc.get(c) ?? 0) + share);
        break;
      }
      for (const c of small) {
        budget -= prefix.get(c)!;
        alloc.set(c, prefix.get(c)!);
      }
      open = open.filter((c) => !small.includes(c));
    }
    const used = new Set<string>();
    const emitChainPrefix = (chain: string) => {
      const list = items.get(chain) ?? [];
      const m = walkFull(chain);
      let left = alloc.get(chain) ?? 0;
      const np = npOf(chain);
      const end = m.index >= 0 ? m.index : list.length;
      // The true prefix, up to the allocation (rules before the match).
      outer: for (let i = 0; i < end && left > 0; i++) {
        const it = list[i];
        if (it.kind === 'fixed') {
          addRule(chain, { expr: it.expr, comment: it.comment });
          left--;
          continue;
        }
        for (const g of expansionRules(it.rule, it.d, np)) {
          if (left-- <= 0) break outer;
          addRule(chain, g);
        }
      }
      if (m.index >= 0) {
        const it = list[m.index];
        if (it.kind === 'expansion' && left > 0) {
          // Rules of the matching expansion before the match itself.
          let k = 0;
          for (const g of expansionRules(it.rule, it.d, np)) {
            if (k++ >= Math.min(left, (m as { offset: number }).offset)) break;
            addRule(chain, g);
          }
        }
        addRule(chain, (m as { rule: GeneratedRule }).rule);
      }
    };
    for (const chain of chainsOrder) {
      if (!items.has(chain)) continue;
      if (chain === 'forward' || chain.startsWith('drop_isolated_')) {
        for (const it of items.get(chain)!) addRule(chain, { expr: (it as { expr: NftStatement[] }).expr, comment: (it as { comment?: string }).comment });
        used.add(chain);
        continue;
      }
      if (!/^lin_/.test(chain)) continue; // deciding chains: added below when referenced
      used.add(chain);
      if (!visited.includes(chain)) continue;
      emitChainPrefix(chain);
      // Fixed tails (unless the flow's match already was one): the admin chain's goto np; the
      // np chain's isolation of the flow's subject and its goto baseline.
      const hit = walkFull(chain);
      if (hit.index >= 0 && items.get(chain)![hit.index].kind === 'fixed') continue;
      const d = chain.includes('egress') ? 'egress' : 'ingress';
      if (chain === `lin_${d}`) addRule(chain, { expr: [{ goto: { target: `lin_${d}_np` } }] });
      if (chain === `lin_${d}_np`) {
        const subjectIp = d === 'egress' ? pkt.saddr : pkt.daddr;
        for (const pod of groupsIsolated.get(d) ?? []) {
          for (const s of podAddresses(pod)) {
            if (parseIp(s.expr)?.value !== subjectIp) continue;
            addRule(chain, { expr: [addrMatch(s.family, d === 'egress' ? 'saddr' : 'daddr', s.expr), { goto: { target: `drop_isolated_${d}` } }], comment: `isolated ${pod.namespace}/${pod.name}` });
          }
        }
        addRule(chain, { expr: [{ goto: { target: `lin_${d}_baseline` } }] });
      }
    }
    const targets = new Set<string>();
    for (const c of ruleCmds) {
      const v = verdictOf((c as unknown as { add: { rule: { expr: NftStatement[] } } }).add.rule.expr);
      if (v && (v.kind === 'goto' || v.kind === 'jump')) targets.add(v.target);
    }
    for (const r of deciding) {
      const name = ruleChain(r);
      if (!targets.has(name)) continue;
      used.add(name);
      for (const it of items.get(name)!) addRule(name, { expr: (it as { expr: NftStatement[] }).expr, comment: (it as { comment?: string }).comment });
    }
    loadedChains = chainsOrder.filter((c) => used.has(c));
  }

  const cmds: NftCommand[] = [
    ...replaceTable(table),
    { add: { chain: { family, table, name: 'forward', type: 'filter', hook: 'forward', prio: 0, policy: 'accept' } } },
    ...loadedChains.slice(1).map((name): NftCommand => ({ add: { chain: { family, table, name } } })),
  ];
  // emitLinear's rule order: forward, then per direction, then deciding chains (the order of
  // rule commands across chains does not change meaning; within a chain it is the chain order).
  const order = new Map(chainsOrder.map((c, i) => [c, i]));
  const rank = (c: NftCommand) => order.get((c as { add: { rule: { chain: string } } }).add.rule.chain) ?? 0;
  const directionOrder = (c: NftCommand) => {
    const chain = (c as { add: { rule: { chain: string } } }).add.rule.chain;
    // emitLinear pushes drop_isolated_<d> first within its direction.
    if (chain === 'drop_isolated_egress') return order.get('lin_egress')! - 0.5;
    if (chain === 'drop_isolated_ingress') return order.get('lin_ingress')! - 0.5;
    return rank(c);
  };
  const sortedRules = ruleCmds.map((c, i) => ({ c, i })).sort((a, b) => directionOrder(a.c) - directionOrder(b.c) || a.i - b.i).map((x) => x.c);
  const document: NftDocument = { nftables: [...cmds, ...sortedRules] };
  const loaded = traverseDocument(document, table, options.packet);
  return {
    document,
    fullRules,
    loadedRules: ruleCmds.length,
    capped,
    traversedFull: full.rules,
    traversedLoaded: loaded.rules,
    verdictFull: full.verdict,
    path: full.path,
  };
}

/** Uncapped and unscoped, planLinear's document must be emitLinear's, and the walks must agree. */
export function verifyAgainstEmitLinear(program: Program, cluster: Cluster, members: ReadonlyMap<string, readonly ClusterPod[]>, table: string, packet: LinearPacket): { ok: boolean; message: string } {
  const ref = emitLinear(program, cluster, { table });
  const mine = planLinear(program, cluster, members, { table, cap: Number.MAX_SAFE_INTEGER, packet });
  const a = JSON.stringify(ref.document);
  const b = JSON.stringify(mine.document);
  if (a !== b) {
    const n = Math.min(a.length, b.length);
    let i = 0;
    while (i < n && a[i] === b[i]) i++;
    return { ok: false, message: `documents differ at char ${i}: emitLinear ...${a.slice(Math.max(0, i - 80), i + 80)}... vs ours ...${b.slice(Math.max(0, i - 80), i + 80)}...` };
  }
  if (ref.counts.rules !== mine.fullRules) return { ok: false, message: `rule counts differ: ${ref.counts.rules} vs ${mine.fullRules}` };
  const walked = traverseDocument(ref.document, table, packet);
  if (walked.rules !== mine.traversedFull || walked.verdict !== mine.verdictFull) return { ok: false, message: `walks differ: emitLinear ${walked.rules}/${walked.verdict}, counted ${mine.traversedFull}/${mine.verdictFull}` };
  return { ok: true, message: `identical to emitLinear (${ref.counts.rules} rules; flow walks ${walked.rules} rules, ${walked.verdict})` };
}
