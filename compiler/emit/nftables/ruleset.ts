// IR -> one nftables `inet` table (libnftables JSON), with O(1) work per packet.
//
// Per new flow the forward chain does a constant number of lookups, whatever the number of
// policies, pods or peers:
//
//   forward (hook forward, priority 0, policy accept)
//     ct state established,related accept                   every packet of an established flow stops here
//     ct state invalid drop
//     tcp flags & (fin|syn|rst|ack) != syn drop              a new TCP flow starts with a SYN
//     meta nfproto ipv4 goto forward_v4
//     meta nfproto ipv6 goto forward_v6
//   forward_v4 (forward_v6: the same with ip6, after an ICMPv6 neighbour-discovery accept)
//     meta priority set ip saddr map @src_identity_v4 goto destination_v4   a pod: one hash lookup
//     meta priority set ip saddr map @src_world_v4 goto destination_v4      else its world range
//     meta priority set 0 goto destination_v4                               (unreachable: the world maps are total)
//   destination_v4: the same three rules for ip daddr into ct mark, then goto sides_v4
//   sides_v4
//     jump egress
//        meta priority set meta priority . ct mark map @egress_pairs goto egress_ports   the pair's profile
//        meta priority @isolated_egress goto drop_isolated_egress       no profile for the pair, isolated
//        (end: return, egress allowed)
//     egress_ports
//        meta priority . meta l4proto . th dport vmap @egress_ports_exact   exact elements: a hash
//        meta priority . meta l4proto . th dport vmap @egress_ports         all elements: intervals
//        meta priority & 0x40000000 == 0x40000000 goto drop_isolated_egress   an isolated subject's profile
//        (end: return, egress allowed)
//     the three source rules again (the egress step overwrote the source identity), goto ingress
//   ingress: the same with ct mark (destination) as the subject, then (ingress and ingress_ports)
//     meta priority set 0 ct mark set 0 accept
//
// The IPv4 pod-to-pod flow allowed on both sides by exact ports walks 14 rules and 7 lookups, all
// of them hashes: 3 address lookups, 2 pair lookups, 2 exact port lookups; the interval port maps
// only when the exact map misses (port ranges, any-protocol rules, and flows no element decides),
// the isolated sets only for a pair without a profile. The flow's other packets (SYN-ACK, ACK,
// FIN/RST, data) walk one rule with a compare.
//
// Why isolation lives in the profile number (profiles.ts PROFILE_ISOLATED) rather than in a
// lookup before the pair: the previous layout tested the isolated set first and went through a
// chain per isolation (egress_isolated, egress_isolated_ports): 2 rules and a lookup more per
// side. bench/dataplane-profile.ts, 50k pods / 10k policies, the previous table as --compare in
// the same run: nft_do_chain + nft_rhash_lookup + memcpy per connection 1,320 ns against 1,660
// (an empty table: 1,079), so what the policies add over an empty table went from about 580 to
// 240 ns per new connection. Isolated and open subjects no longer share profiles (a few more
// port elements: 15 -> 19 in the admin-tiers golden).
//
// Why the exact port maps (bench/dataplane-profile.ts: perf record -e cpu-clock -a -g of the
// throughput bench's topologies, self time per symbol divided by the connections opened, ns per
// connection on the client CPU; 50k pods, 10k policies, kernel 6.18, 2-vCPU VM): the port maps
// are concatenations with intervals, served by nft_set_pipapo's AVX2 lookup, which runs under
// kernel_fpu_begin: the first use in a softirq saves the interrupted task's FPU/AVX-512 state
// (save_fpregs_to_fpstate) and the return to user space restores it. Per connection:
// pipapo_get_avx2 + refill + fill ~500 ns, FPU save/begin/end ~115 ns, and ~200 ns more at
// __libc_connect in user space (363 against 159-177 ns in the other tables: presumably the
// restore, whose interrupts-off time the VM's timer sampling charges to the next instruction).
// The exact elements (892 of the bench's 965 port elements; 73 are port ranges) are in a hash
// map as well, looked up first: nftables-related self time per connection went from 2.96 to 2.50 us
// (no policies: 1.50, conntrack only: 0.54), and in the same throughput run new connections/s
// went from 0.657 to 0.738 of no ruleset (42.7k to 47.2k/s, +10%; the empty table 0.732: the
// policies now cost nothing measurable over an empty table). The same decisions: the elements of
// a profile are disjoint, so an exact hit is the element the interval map would find, and a
// miss falls through to the interval map exactly as before (the interval maps keep every
// element: node-side readers of *_ports see the whole port function).
//
// Where the rest of a new connection's time goes (same profile, busy machine): the largest and
// most variable item is not in the forward hook: the client's softirq completes the server's
// handshake and wakes the server's epoll on the other vCPU (tcp_child_process ->
// sock_def_readable -> try_to_wake_up, ~0.6 function-call IPIs per connection); a VM exit to
// send an IPI to a halted vCPU shows up as 3.5-12 us per connection at
// _raw_spin_unlock_irqrestore, and varies between runs by more than the whole policy walk. The
// slower the client, the more often the server's vCPU has gone idle by the next connection, so
// every ns of rule cost is paid again in wake-up cost: the bench's connection ratio amplifies
// per-packet cost (~0.5 us less nft time gave ~2 us less per connection). Not the table's to fix.
//
// Why this shape (measured with perf on bench/dataplane-throughput.ts, new connections through
// a node netns, kernel 6.18): in the previous layout nft_do_chain took 10% of the CPU time of a
// connection (ct only: 1.4%); a third of it went to the world interval maps (2,188 ranges at
// 50k pods; an interval map is a binary search over the range ends with a memcmp per step, about
// 3x a hash lookup), which that layout loaded for every flow, three times (source, destination,
// source again) before a pod address overrode the result. Now a pod address is looked up in its
// hash map first and the interval map only for addresses outside the pods (a miss ends the rule
// before the register is written, so the rule order gives "pod, else world, else 0"). The
// anonymous verdict maps on ct state and nfproto (a jhash lookup each, the ct state one for every
// packet of every flow) became compares, which nft_do_chain runs inline. Together: from 2.7 to
// 1.6 us of nft_do_chain per connection (perf samples / connections; a conntrack-only table:
// 0.3). What remains is about half rule overhead (~40 ns per rule, mostly cache misses on a
// busy machine) and half the 9 lookups (the port maps were concatenated intervals, served by
// nft_set_pipapo with AVX2: ~165 ns per lookup against ~45 ns for a hash lookup; see above for
// what they cost outside nft_do_chain).
// Conntrack itself (nf_conntrack_in, confirm, delete) costs new connections about twice what
// the whole policy walk does; its per-netns settings were checked and left alone: no conntrack
// event listener (events=2 allocates no event extension), veth traffic carries CHECKSUM_PARTIAL
// (nf_conntrack_checksum computes nothing), timestamps and accounting are off by default.
//
// Allow chains of ingress rules end in `meta priority set 0 ct mark set 0 accept` themselves
// (ingress is the last side); allow chains of egress rules `return` to sides_v*, which loads the
// source again for ingress. Not kept from the previous layout on purpose: the clear of both
// registers before the identity loads (every path writes both registers before reading them,
// the fallback rules included).
//
// Not done: a table that decides nothing (no isolation, no allow/deny rule) could skip conntrack
// altogether, but connections opened under it would then be unknown to conntrack when a policy
// arrives, and their next packet (not a SYN) would be dropped as a new flow: not exact across
// an update, so the table keeps its ct state rules.
//
// Decisions in two steps (compiler/emit/profiles.ts): the identity pair is looked up in a hash
// map (`*_pairs`, exact keys, one element per pair with a decision) whose value is a profile
// number, written over the subject's register; then (profile, l4proto, dport) is looked up in a
// small hash map of the exact elements (`*_ports_exact`), else in a small interval map
// (`*_ports`, every element of every distinct port function). A pair that is not in the map
// stops the rule before the goto to the port chain, so the subject's fallback applies; a port
// that neither port map holds reaches the same fallback at the end of the port chain. Why two
// steps: a single concatenated interval map over (subject, peer, proto, port) is served by
// nft_set_pipapo, whose lookup scans bitmaps as long as the element count; with hundreds of
// thousands of elements a new connection cost more than the rest of its handshake. The egress
// step overwrites the source identity, so it is loaded again before the ingress step.
//
// Decision values are `goto allow_<cookie>` (counter; then for an egress rule return: the
// direction is settled, ingress is judged next; for an ingress rule clear the registers and
// accept) or `goto drop_<cookie>` (rate-limited NFLOG sample with the rule's cookie and id,
// counter, drop). Rule comments carry rule ids. The number of rules grows with the number of IR
// rules (one allow_/drop_ chain each), never with pods or peers.
//
// Addresses in two maps per end and family: pod addresses in an exact (hash) map, the world
// ranges (ipBlock classes, carved by the compiler, merged across pod addresses) in an interval
// map read only for addresses the pod map does not hold. A pod's label change or a new pod then
// touches the hash map only: libnftables re-reads a whole interval set to add or delete one of
// its elements, which made a one-pod change cost ~27 ms at 5k pods when pod addresses sat in
// the interval map.
//
// Why `meta priority` and `ct mark`: nft 1.0.6 cannot put a map lookup inside a concatenation
// ("Expression type map not allowed"), so the two identities must sit in registers that can be
// set from a map and read in a concatenation. The packet mark is left alone on purpose:
// kube-proxy's masquerade bit (0x4000) is set in nat prerouting and read in postrouting, and a
// forward chain that overwrote it would break SNAT of service traffic. skb->priority only picks
// a qdisc band and is cleared again before accept; the conntrack mark of a new forwarded flow
// is cleared too. The identity maps come in two copies per family because priority is typed
// `classid` and ct mark `mark` (nft refuses a cast between them). The decision maps are shared
// by IPv4 and IPv6 (identities are family-independent numbers).
//
// Established flows: policy is judged on the first packet of a flow (conntrack NEW); packets of
// established or related flows are accepted without a lookup, also after a policy change (a
// reload does not flush conntrack; the daemon deletes the entries of flows a change denies,
// dataplane/policy/conntrack-flush.ts). Flows that conntrack does not track (notrack) cannot
// carry the ct mark register and skip the ingress side: do not notrack pod-to-pod traffic.
//
// Elements are disjoint (identities carve pod addresses out of world ranges; port elements are
// split at every port boundary and merged where results agree), sorted, and deterministic. A
// full replace is `add table` + `delete table` + everything again, in one batch: it works
// whether or not the table exists, and drops stale elements (`flush table` would keep them).

import type { Cluster } from '../../model/cluster.js';
import type { Direction, Program, Rule } from '../../ir/types.js';
import { formatIp, rangeToCidrs, type Family } from '../../ir/cidr.js';
import type { IdentityElement } from '../identities.js';
import { computeMembership, type Membership, type MembershipDiff, type MembershipScope } from '../membership.js';
import { PROFILE_ISOLATED, type PairElement, type PortElement } from '../profiles.js';
import type {
  NftChain,
  NftCommand,
  NftDocument,
  NftElement,
  NftElementKey,
  NftExpression,
  NftMap,
  NftRule,
  NftSet,
  NftStatement,
} from './schema.js';
import { replaceTable } from './schema.js';

export interface NftOptions {
  /** Table name (family inet). Default `policyc`. */
  readonly table?: string;
  /** Base chain priority. Default 0 (filter). */
  readonly priority?: number;
  /** NFLOG group for drop samples. Default 1. */
  readonly logGroup?: number;
  /** Drop samples per second per rule. Default 10 (burst 5). */
  readonly logRate?: number;
}

export interface NftCounts {
  readonly groups: number;
  readonly identities: number;
  /** ip -> identity elements (each is loaded twice: source and destination map). */
  readonly identityElements: number;
  /** Decisions as the evaluator states them: (subject, peer, proto range, port range) -> rule. */
  readonly decisionElements: number;
  /** What the kernel holds for them: identity pairs -> profile, and profile ports -> rule. */
  readonly pairElements: number;
  readonly portElements: number;
  readonly isolatedElements: number;
  /** Every element loaded into the kernel. */
  readonly setElements: number;
  readonly maps: number;
  readonly chains: number;
  readonly rules: number;
  /** Rules a new packet traverses at most (constant). */
  readonly perPacketRules: number;
}

export interface NftEmission {
  readonly document: NftDocument;
  readonly counts: NftCounts;
  /** Absent without a snapshot: the maps are empty and the node daemon fills them. */
  readonly membership?: Membership;
  readonly warnings: readonly string[];
}

export const DEFAULT_TABLE = 'policyc';
export const MAP = {
  /** Pod address -> identity (exact). */
  srcIdentity: (f: Family) => `src_identity_v${f}`,
  dstIdentity: (f: Family) => `dst_identity_v${f}`,
  /** World range -> identity (interval; pod addresses are answered by the maps above). */
  srcWorld: (f: Family) => `src_world_v${f}`,
  dstWorld: (f: Family) => `dst_world_v${f}`,
  pairs: (d: Direction) => `${d}_pairs`,
  ports: (d: Direction) => `${d}_ports`,
  /** The exact (single proto, single port) elements of `*_ports` again, in a hash map read first. */
  portsExact: (d: Direction) => `${d}_ports_exact`,
  isolated: (d: Direction) => `isolated_${d}`,
} as const;
/** Per-family chains of a new flow: source identity -> destination identity -> the two sides. */
export const CHAIN = {
  source: (f: Family) => `forward_v${f}`,
  destination: (f: Family) => `destination_v${f}`,
  sides: (f: Family) => `sides_v${f}`,
} as const;

export function cookieHex(cookie: number): string {
  return (cookie >>> 0).toString(16).padStart(8, '0');
}

export function ruleChain(rule: Rule): string {
  return `${rule.action === 'allow' ? 'allow' : 'drop'}_${cookieHex(rule.cookie)}`;
}

/** nft keeps at most 128 bytes of a comment; ids are ASCII. */
export function commentText(text: string): string {
  return text.length <= 128 ? text : `${text.slice(0, 125)}...`;
}

function logPrefix(text: string): string {
  const t = text.replace(/"/g, "'");
  return `${t.length <= 100 ? t : t.slice(0, 100)} `;
}

const PRIORITY = { meta: { key: 'priority' } } as const;
const CTMARK = { ct: { key: 'mark' } } as const;
const L4PROTO = { meta: { key: 'l4proto' } } as const;
const DPORT = { payload: { protocol: 'th', field: 'dport' } } as const;

function subjectRegister(d: Direction) {
  return d === 'egress' ? PRIORITY : CTMARK;
}

/** The pair key of a direction: (subject identity, peer identity). */
function pairKey(d: Direction): NftExpression {
  return { concat: d === 'egress' ? [PRIORITY, CTMARK] : [CTMARK, PRIORITY] };
}

/** The port key: (profile, l4proto, dport); the profile sits in the subject's register. */
function portKey(d: Direction): NftExpression {
  return { concat: [subjectRegister(d), L4PROTO, DPORT] };
}

/** subject register := pairs[subject . peer], then on to the chain of the port lookups; a missing pair ends the rule (the register keeps the subject). */
function pairStatements(d: Direction): NftStatement[] {
  return [{ mangle: { key: subjectRegister(d), value: { map: { key: pairKey(d), data: `@${MAP.pairs(d)}` } } } }, { goto: { target: portsChain(d) } }];
}

/** The port chain of a side (`egress_ports`, `ingress_ports`). */
export function portsChain(d: Direction): string {
  return `${d}_ports`;
}

/** Whether a port element goes into the exact map too (one protocol, one port). */
export function exactPort(e: PortElement): boolean {
  return e.protoFrom === e.protoTo && e.portFrom === e.portTo;
}

/** Rules that decide something (allow or deny), by cookie: one chain each. */
export function decidingRules(program: Program): Rule[] {
  return program.rules.filter((r) => r.action !== 'pass').sort((a, b) => a.cookie - b.cookie);
}

/** Everything but elements: table, chains, maps, rules. Depends on the Program only. */
export function skeletonCommands(program: Program, options: NftOptions = {}): NftCommand[] {
  const table = options.table ?? DEFAULT_TABLE;
  const logGroup = options.logGroup ?? 1;
  const rate = options.logRate ?? 10;
  const family = 'inet' as const;
  const chain = (name: string, extra: Partial<NftChain> = {}): NftCommand => ({ add: { chain: { family, table, name, ...extra } } });
  const rule = (chainName: string, expr: NftStatement[], comment?: string): NftCommand => {
    const r: NftRule = comment ? { family, table, chain: chainName, comment: commentText(comment), expr } : { family, table, chain: chainName, expr };
    return { add: { rule: r } };
  };
  const map = (m: Omit<NftMap, 'family' | 'table'>): NftCommand => ({ add: { map: { family, table, ...m } } });
  const set = (s: Omit<NftSet, 'family' | 'table'>): NftCommand => ({ add: { set: { family, table, ...s } } });
  const clear: NftStatement[] = [
    { mangle: { key: PRIORITY, value: 0 } },
    { mangle: { key: CTMARK, value: 0 } },
  ];
  const deciding = decidingRules(program);

  const cmds: NftCommand[] = [
    ...replaceTable(table),
    chain('forward', { type: 'filter', hook: 'forward', prio: options.priority ?? 0, policy: 'accept' }),
    ...([4, 6] as const).flatMap((f) => [chain(CHAIN.source(f)), chain(CHAIN.destination(f)), chain(CHAIN.sides(f))]),
    chain('egress'),
    chain('ingress'),
    chain('drop_isolated_egress'),
    chain('drop_isolated_ingress'),
    ...(['egress', 'ingress'] as const).map((d) => chain(portsChain(d))),
    ...deciding.map((r) => chain(ruleChain(r))),
  ];
  for (const f of [4, 6] as const) {
    const addr = f === 4 ? 'ipv4_addr' : 'ipv6_addr';
    cmds.push(map({ name: MAP.srcWorld(f), type: addr, map: 'classid', flags: ['interval'], comment: 'source range -> world identity' }));
    cmds.push(map({ name: MAP.srcIdentity(f), type: addr, map: 'classid', comment: 'source pod address -> identity' }));
    cmds.push(map({ name: MAP.dstWorld(f), type: addr, map: 'mark', flags: ['interval'], comment: 'destination range -> world identity' }));
    cmds.push(map({ name: MAP.dstIdentity(f), type: addr, map: 'mark', comment: 'destination pod address -> identity' }));
  }
  cmds.push(map({ name: MAP.pairs('egress'), type: ['classid', 'mark'], map: 'classid', comment: 'egress: source identity . destination identity -> profile' }));
  cmds.push(map({ name: MAP.pairs('ingress'), type: ['mark', 'classid'], map: 'mark', comment: 'ingress: destination identity . source identity -> profile' }));
  cmds.push(map({ name: MAP.ports('egress'), type: ['classid', 'inet_proto', 'inet_service'], map: 'verdict', flags: ['interval'], comment: 'egress: profile . l4proto . dport' }));
  cmds.push(map({ name: MAP.ports('ingress'), type: ['mark', 'inet_proto', 'inet_service'], map: 'verdict', flags: ['interval'], comment: 'ingress: profile . l4proto . dport' }));
  cmds.push(map({ name: MAP.portsExact('egress'), type: ['classid', 'inet_proto', 'inet_service'], map: 'verdict', comment: 'egress: profile . l4proto . dport, exact elements (hash, read first)' }));
  cmds.push(map({ name: MAP.portsExact('ingress'), type: ['mark', 'inet_proto', 'inet_service'], map: 'verdict', comment: 'ingress: profile . l4proto . dport, exact elements (hash, read first)' }));
  cmds.push(set({ name: MAP.isolated('egress'), type: 'classid', comment: 'sources isolated for egress by NetworkPolicy' }));
  cmds.push(set({ name: MAP.isolated('ingress'), type: 'mark', comment: 'destinations isolated for ingress by NetworkPolicy' }));

  const CTSTATE = { ct: { key: 'state' } } as const;
  const NFPROTO = { meta: { key: 'nfproto' } } as const;
  cmds.push(
    // Flags tests (bitwise and compare, inline in nft_do_chain), not an anonymous verdict map: a
    // hash lookup per packet of every established flow cost more than the two compares.
    rule('forward', [{ match: { op: 'in', left: CTSTATE, right: ['established', 'related'] } }, { accept: null }], 'policyc: established and related flows accepted'),
    rule('forward', [{ match: { op: 'in', left: CTSTATE, right: 'invalid' } }, { drop: null }], 'policyc: invalid dropped'),
    // A new TCP flow starts with a SYN. Anything else is a mid-stream pickup (nf_conntrack_tcp_loose):
    // judged as a new flow it would run the wrong way (server to client) and could revive a
    // connection whose conntrack entry a policy change deleted (dataplane/policy/conntrack-flush.ts).
    rule(
      'forward',
      [{ match: { op: '!=', left: { '&': [{ payload: { protocol: 'tcp', field: 'flags' } }, ['fin', 'syn', 'rst', 'ack']] }, right: 'syn' } }, { counter: { packets: 0, bytes: 0 } }, { drop: null }],
      'policyc: new TCP flow without SYN',
    ),
    rule('forward', [{ match: { op: '==', left: NFPROTO, right: 'ipv4' } }, { goto: { target: CHAIN.source(4) } }], 'policyc: new IPv4 flows'),
    rule('forward', [{ match: { op: '==', left: NFPROTO, right: 'ipv6' } }, { goto: { target: CHAIN.source(6) } }], 'policyc: new IPv6 flows'),
    rule(
      CHAIN.source(6),
      [
        { match: { op: '==', left: L4PROTO, right: 'ipv6-icmp' } },
        { match: { op: '==', left: { payload: { protocol: 'icmpv6', field: 'type' } }, right: { set: ['nd-router-solicit', 'nd-router-advert', 'nd-neighbor-solicit', 'nd-neighbor-advert', 'nd-redirect'] } } },
        { accept: null },
      ],
      'policyc: ICMPv6 neighbour discovery',
    ),
  );
  for (const f of [4, 6] as const) {
    const addr = (field: 'saddr' | 'daddr') => ({ payload: { protocol: f === 4 ? 'ip' : 'ip6', field } }) as const;
    const load = (register: typeof PRIORITY | typeof CTMARK, field: 'saddr' | 'daddr', mapName: string): NftStatement => ({ mangle: { key: register, value: { map: { key: addr(field), data: `@${mapName}` } } } });
    // An identity in three rules, each ending in a goto: the pod address (exact map), else the
    // world range (interval map; it covers the whole address space, membership.ts mergeWorld),
    // else 0. A lookup that misses ends its rule before the register is written, so a pod
    // address never pays for the interval lookup.
    const identity = (chainName: string, register: typeof PRIORITY | typeof CTMARK, field: 'saddr' | 'daddr', pod: string, world: string, next: string, what: string): NftCommand[] => [
      rule(chainName, [load(register, field, pod), { goto: { target: next } }], `policyc: ${what} pod identity`),
      rule(chainName, [load(register, field, world), { goto: { target: next } }], `policyc: ${what} world identity`),
      rule(chainName, [{ mangle: { key: register, value: 0 } }, { goto: { target: next } }], `policyc: ${what} outside the world maps`),
    ];
    cmds.push(
      ...identity(CHAIN.source(f), PRIORITY, 'saddr', MAP.srcIdentity(f), MAP.srcWorld(f), CHAIN.destination(f), 'source'),
      ...identity(CHAIN.destination(f), CTMARK, 'daddr', MAP.dstIdentity(f), MAP.dstWorld(f), CHAIN.sides(f), 'destination'),
      rule(CHAIN.sides(f), [{ jump: { target: 'egress' } }], 'policyc: egress of the source'),
      // the egress decision overwrote the source identity with a profile: load it again
      ...identity(CHAIN.sides(f), PRIORITY, 'saddr', MAP.srcIdentity(f), MAP.srcWorld(f), 'ingress', 'source (again, for ingress)'),
    );
  }
  for (const d of ['egress', 'ingress'] as const) {
    // The pair first: a pair with a profile goes to the port lookups, and its profile number
    // says whether the subject is isolated (profiles.ts PROFILE_ISOLATED), so a port no element
    // holds is settled by a bit test on the register, without a lookup. Only a pair without a
    // profile (the rule missed, the register still holds the subject) is looked up in the
    // isolated set.
    const subject = subjectRegister(d);
    cmds.push(
      rule(d, pairStatements(d), `policyc: ${d} pair profile`),
      rule(d, [{ match: { op: '==', left: subject, right: `@${MAP.isolated(d)}` } }, { goto: { target: `drop_isolated_${d}` } }], `policyc: ${d} isolated by NetworkPolicy, no rule for the pair`),
      // the exact elements in a hash map first, then every element in the interval map (concatenated intervals: nft_set_pipapo)
      rule(portsChain(d), [{ vmap: { key: portKey(d), data: `@${MAP.portsExact(d)}` } }], `policyc: ${d} decisions (exact ports)`),
      rule(portsChain(d), [{ vmap: { key: portKey(d), data: `@${MAP.ports(d)}` } }], `policyc: ${d} decisions`),
      rule(
        portsChain(d),
        [{ match: { op: '==', left: { '&': [subject, PROFILE_ISOLATED] }, right: PROFILE_ISOLATED } }, { goto: { target: `drop_isolated_${d}` } }],
        `policyc: ${d} isolated by NetworkPolicy, no rule for the port`,
      ),
    );
    // ingress is the last side: not isolated and no decision means allowed (an egress side
    // without a decision returns to sides_v*: the end of egress or egress_ports)
    if (d === 'ingress') cmds.push(rule(d, [...clear, { accept: null }], 'policyc: allowed'), rule(portsChain(d), [...clear, { accept: null }], 'policyc: allowed'));
    const chainName = `drop_isolated_${d}`;
    cmds.push(
      rule(chainName, [{ limit: { rate, per: 'second', burst: 5 } }, { log: { prefix: logPrefix(`policyc drop isolated ${d}`), group: logGroup } }]),
      rule(chainName, [{ counter: { packets: 0, bytes: 0 } }, { drop: null }], `isolated by NetworkPolicy (${d})`),
    );
  }
  for (const r of deciding) {
    const name = ruleChain(r);
    if (r.action === 'allow') {
      // egress: the side is settled, ingress is judged next (return to sides_v*); ingress is the
      // last side: clear the scratch registers and accept here
      const verdict: NftStatement[] = r.direction === 'egress' ? [{ return: null }] : [...clear, { accept: null }];
      cmds.push(rule(name, [{ counter: { packets: 0, bytes: 0 } }, ...verdict], r.id));
    } else {
      cmds.push(
        rule(name, [{ limit: { rate, per: 'second', burst: 5 } }, { log: { prefix: logPrefix(`policyc drop ${cookieHex(r.cookie)} ${r.id}`), group: logGroup } }]),
        rule(name, [{ counter: { packets: 0, bytes: 0 } }, { drop: null }], r.id),
      );
    }
  }
  return cmds;
}

// ---- elements

// (imported here, not with the skeleton's imports above: this part is edited separately)
import { formatIpv4Number } from '../../ir/cidr.js';

function addressKey(e: IdentityElement): NftElementKey {
  // Most elements are IPv4 pod addresses: format those from a number, not through bigint shifts.
  const first = e.family === 4 ? formatIpv4Number(Number(e.first)) : formatIp({ family: e.family, value: e.first });
  if (e.first === e.last) return first;
  const cidrs = rangeToCidrs({ family: e.family, first: e.first, last: e.last });
  if (cidrs.length === 1) return { prefix: { addr: first, len: cidrs[0].prefix } };
  return { range: [first, formatIp({ family: e.family, value: e.last })] };
}

function rangeOrValue(from: number, to: number): NftElementKey {
  return from === to ? from : { range: [from, to] };
}

export function pairElement(e: PairElement): NftElement {
  return [{ concat: [e.subject, e.peer] }, e.profile];
}

export function portElement(e: PortElement): NftElement {
  return [{ concat: [e.profile, rangeOrValue(e.protoFrom, e.protoTo), rangeOrValue(e.portFrom, e.portTo)] }, { goto: { target: ruleChain(e.rule) } }];
}

/** Element payloads per map/set name, sorted. */
export function elementsByName(
  identityElements: readonly IdentityElement[],
  world: readonly IdentityElement[],
  pairs: readonly PairElement[],
  ports: readonly PortElement[],
  isolated: Readonly<Record<Direction, readonly number[]>>,
): Map<string, NftElement[]> {
  const out = new Map<string, NftElement[]>();
  const list = (name: string): NftElement[] => {
    let l = out.get(name);
    if (!l) out.set(name, (l = []));
    return l;
  };
  // One loop function per kind: a one-shot compile optimizes each loop on its own (a function
  // holding all of them is optimized for its first loop, then deoptimized at the next one).
  pushAddresses(identityElements, true, (f) => list(MAP.srcIdentity(f)), (f) => list(MAP.dstIdentity(f)));
  pushAddresses(world, false, (f) => list(MAP.srcWorld(f)), (f) => list(MAP.dstWorld(f)));
  pushDecisions(pairs, (d) => list(MAP.pairs(d)), pairElement);
  pushDecisions(ports, (d) => list(MAP.ports(d)), portElement);
  pushDecisions(ports.filter(exactPort), (d) => list(MAP.portsExact(d)), portElement);
  for (const d of ['egress', 'ingress'] as const) for (const id of isolated[d]) list(MAP.isolated(d)).push(id);
  return out;
}

/** Address elements into a source and a destination map per family (pod addresses only if `podsOnly`: world ranges come merged). */
function pushAddresses(elements: readonly IdentityElement[], podsOnly: boolean, src: (f: Family) => NftElement[], dst: (f: Family) => NftElement[]): void {
  const lists: Record<Family, [NftElement[], NftElement[]] | undefined> = { 4: undefined, 6: undefined };
  for (let i = 0; i < elements.length; i++) {
    const e = elements[i];
    if (podsOnly && e.pod === undefined) continue;
    const [s, d] = (lists[e.family] ??= [src(e.family), dst(e.family)]);
    const element: NftElement = [addressKey(e), e.identity]; // one array in both maps: the same JSON, half the garbage
    s.push(element);
    d.push(element);
  }
}

/** Pair or port elements into their direction's map (one list lookup per direction, not per element). */
function pushDecisions<T extends { readonly direction: Direction }>(elements: readonly T[], map: (d: Direction) => NftElement[], element: (e: T) => NftElement): void {
  let egress: NftElement[] | undefined;
  let ingress: NftElement[] | undefined;
  for (let i = 0; i < elements.length; i++) {
    const e = elements[i];
    const l = e.direction === 'egress' ? (egress ??= map('egress')) : (ingress ??= map('ingress'));
    l.push(element(e));
  }
}

function elementCommands(kind: 'add' | 'delete', byName: Map<string, NftElement[]>, table: string): NftCommand[] {
  const cmds: NftCommand[] = [];
  for (const name of [...byName.keys()].sort()) {
    const elem = byName.get(name)!;
    if (elem.length === 0) continue;
    const element = { family: 'inet' as const, table, name, elem };
    cmds.push(kind === 'add' ? { add: { element } } : { delete: { element } });
  }
  return cmds;
}

/** `add element` commands that fill the maps of a freshly created table. */
export function membershipCommands(m: Membership, options: NftOptions = {}): NftCommand[] {
  return elementCommands('add', elementsByName(m.identityElements, m.world, m.layout.pairs, m.layout.ports, m.isolated), options.table ?? DEFAULT_TABLE);
}

/** One batch: deletes first, then adds (the kernel rejects overlapping interval elements). */
export function renderElementDiff(diff: MembershipDiff, options: NftOptions = {}): NftDocument {
  const table = options.table ?? DEFAULT_TABLE;
  const del = elementsByName(diff.identity.delete, diff.world.delete, diff.pairs.delete, diff.ports.delete, { egress: diff.isolated.egress.delete, ingress: diff.isolated.ingress.delete });
  const add = elementsByName(diff.identity.add, diff.world.add, diff.pairs.add, diff.ports.add, { egress: diff.isolated.egress.add, ingress: diff.isolated.ingress.add });
  return { nftables: [{ metainfo: { json_schema_version: 1 } }, ...elementCommands('delete', del, table), ...elementCommands('add', add, table)] };
}

export function countCommands(cmds: readonly NftCommand[]): { rules: number; chains: number; maps: number; elements: number } {
  let rules = 0;
  let chains = 0;
  let maps = 0;
  let elements = 0;
  for (const c of cmds) {
    if (!('add' in c)) continue;
    const o = c.add;
    if ('rule' in o) rules++;
    else if ('chain' in o) chains++;
    else if ('map' in o || 'set' in o) maps++;
    else if ('element' in o) elements += o.element.elem.length;
  }
  return { rules, chains, maps, elements };
}

/**
 * The whole table. With a snapshot (`cluster` given and `hasSnapshot` not false) the maps are
 * filled; without one the skeleton is emitted with empty maps for the node daemon to fill.
 */
export function emitNftables(program: Program, cluster?: Cluster, options: NftOptions & { previous?: Membership } & MembershipScope = {}): NftEmission {
  const skeleton = skeletonCommands(program, options);
  const membership = cluster ? computeMembership(program, cluster, options.previous, { localPods: options.localPods, maxPairsPerDirection: options.maxPairsPerDirection }) : undefined;
  const elements = membership ? membershipCommands(membership, options) : [];
  const cmds = [...skeleton, ...elements];
  const c = countCommands(cmds);
  const isolatedElements = membership ? membership.isolated.egress.length + membership.isolated.ingress.length : 0;
  const counts: NftCounts = {
    groups: program.groups.length,
    identities: membership?.identities.identities.length ?? 0,
    identityElements: membership?.identityElements.length ?? 0,
    decisionElements: membership?.decisionElements.length ?? 0,
    pairElements: membership?.layout.pairs.length ?? 0,
    portElements: membership?.layout.ports.length ?? 0,
    isolatedElements,
    setElements: c.elements,
    maps: c.maps,
    chains: c.chains,
    rules: c.rules,
    // At most: forward 5, forward_v6 4 (neighbour discovery, pod, world, 0), destination_v6 3,
    // sides_v6 1 (jump egress) + egress 4 (pair, exact ports, interval ports, allow_ chain or the
    // isolated bit test) + 3 (source again), ingress 6 (pair, exact ports, interval ports, isolated
    // bit test, drop chain 2). The usual IPv4 pod-to-pod flow allowed on both sides by exact ports
    // walks 14 (4, 1, 1, 1 + 3, 1, 3).
    perPacketRules: 5 + 4 + 3 + 1 + 4 + 3 + 6,
  };
  return { document: { nftables: cmds }, counts, membership, warnings: membership?.identities.warnings ?? [] };
}

/** Stable JSON text (2-space indent, trailing newline) for files and goldens. */
export function formatNftJson(doc: NftDocument): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}
