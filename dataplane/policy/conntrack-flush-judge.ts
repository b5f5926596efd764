// What the loaded table decides for the first packet of a flow, with indexed lookups: the same
// semantics as compiler/emit/nftables/interpret.ts (NftInterpreter, a linear scan over our own
// JSON) and the forward chain of ruleset.ts, built either from the engine's Membership (the
// elements the kernel was given) or from `add element` commands (an artifact's snapshot
// elements). Used by conntrack-flush.ts to find the established flows a policy change denies;
// conntrack-flush.test.ts checks it against NftInterpreter.
//
//   source identity  = the pod map (exact) if it holds the address, else the world ranges, else 0
//   destination identity, the same with the destination maps
//   egress(source -> destination), then ingress(destination <- source): per side, the pair map
//   gives a profile; (profile, l4proto, dport) in the port map gives allow/drop; no element:
//   drop when the subject is isolated for the direction, else nothing decided.
//   ICMPv6 neighbour discovery is accepted before any lookup.
//
// `th dport` of a protocol without ports reads whatever sits at bytes 2-3 of its header (the ICMP
// checksum...). A flow without a port is judged only when the verdict is the same for every
// port value; otherwise `accepts` answers undefined (not judged, never deleted).
import { parseIp, type Family } from '../../compiler/ir/cidr.js';
import type { Direction } from '../../compiler/ir/types.js';
import { pairProfile, type Membership, type MembershipDiff } from '../../compiler/emit/membership.js';
import { elementAt } from '../../compiler/emit/identities.js';
import { partitionPoint } from '../../compiler/emit/sorted.js';
import { MAP } from '../../compiler/emit/nftables/ruleset.js';
import { addressKeyBounds } from '../../compiler/emit/nftables/interpret.js';
import type { NftCommand, NftElement, NftElementKey } from '../../compiler/emit/nftables/schema.js';

interface AddressRange {
  first: bigint;
  last: bigint;
  identity: number;
}

interface PortEntry {
  protoFrom: number;
  protoTo: number;
  portFrom: number;
  portTo: number;
  drop: boolean;
}

type Side = 'allow' | 'drop' | 'continue';

const ND_TYPES = new Set([133, 134, 135, 136, 137]);

/** Sorted, disjoint ranges -> binary search. */
function findRange(list: readonly AddressRange[], value: bigint): number | undefined {
  const r = list[partitionPoint(0, list.length, (i) => list[i].last < value)];
  return r !== undefined && r.first <= value ? r.identity : undefined;
}

function sortRanges(list: AddressRange[]): AddressRange[] {
  return list.sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
}

/**
 * Where the judge reads the address and pair maps: a membership as it is (a flush judges a few
 * thousand flows; copying a cluster-wide membership's 100k+ elements into indexes took longer
 * than judging, on the daemon's event loop, after every one-pod change), or the indexes below
 * (built from an artifact's element commands).
 */
interface MembershipSource {
  readonly membership: Membership;
}

export class FlowJudge {
  private source?: MembershipSource;
  /** family -> pod address ranges (exact map), world ranges (interval map) */
  private readonly pods = new Map<Family, AddressRange[]>([
    [4, []],
    [6, []],
  ]);
  private readonly world = new Map<Family, AddressRange[]>([
    [4, []],
    [6, []],
  ]);
  private readonly pairs = new Map<string, number>();
  private readonly ports = new Map<string, PortEntry[]>();
  private readonly isolated: Record<Direction, Set<number>> = { egress: new Set(), ingress: new Set() };
  /** address text -> identity: conntrack tables repeat few addresses many times */
  private readonly identities = new Map<string, number>();

  private constructor() {}

  /** From the elements the engine loaded for a membership (ruleset.ts membershipCommands). */
  static fromMembership(m: Membership): FlowJudge {
    const j = new FlowJudge();
    // addresses and pairs are looked up in the membership itself; the port map is small
    j.source = { membership: m };
    for (const p of m.layout.ports) j.addPort(p.direction, p.profile, { protoFrom: p.protoFrom, protoTo: p.protoTo, portFrom: p.portFrom, portTo: p.portTo, drop: p.rule.action !== 'allow' });
    for (const d of ['egress', 'ingress'] as const) for (const id of m.isolated[d]) j.isolated[d].add(id);
    j.finish();
    return j;
  }

  /** From `add element` commands of one table (an artifact's snapshot elements). */
  static fromElements(cmds: readonly NftCommand[], table: string): FlowJudge {
    const j = new FlowJudge();
    const names = new Map<string, (e: NftElement) => void>();
    for (const f of [4, 6] as const) {
      names.set(MAP.srcIdentity(f), (e) => j.addAddress(j.pods.get(f)!, f, e));
      names.set(MAP.srcWorld(f), (e) => j.addAddress(j.world.get(f)!, f, e));
    }
    for (const d of ['egress', 'ingress'] as const) {
      names.set(MAP.pairs(d), (e) => {
        const [key, value] = e as readonly [{ concat: readonly NftElementKey[] }, number];
        j.pairs.set(`${d}/${Number(key.concat[0])}/${Number(key.concat[1])}`, Number(value));
      });
      names.set(MAP.ports(d), (e) => {
        const [key, verdict] = e as readonly [{ concat: readonly NftElementKey[] }, { goto: { target: string } }];
        const [profile, proto, port] = key.concat;
        const [protoFrom, protoTo] = bounds(proto);
        const [portFrom, portTo] = bounds(port);
        j.addPort(d, Number(profile), { protoFrom, protoTo, portFrom, portTo, drop: !verdict.goto.target.startsWith('allow_') });
      });
      names.set(MAP.isolated(d), (e) => j.isolated[d].add(Number(e)));
    }
    for (const c of cmds) {
      if (!('add' in c) || !('element' in c.add) || c.add.element.table !== table) continue;
      const handle = names.get(c.add.element.name);
      if (handle) for (const e of c.add.element.elem) handle(e);
    }
    j.finish();
    return j;
  }

  private addAddress(list: AddressRange[], family: Family, e: NftElement): void {
    const [key, value] = e as readonly [NftElementKey, number];
    const r = addressKeyBounds(key, family);
    if (r) list.push({ first: r[0], last: r[1], identity: Number(value) });
  }

  private addPort(d: Direction, profile: number, p: PortEntry): void {
    const k = `${d}/${profile}`;
    let list = this.ports.get(k);
    if (!list) this.ports.set(k, (list = []));
    list.push(p);
  }

  private finish(): void {
    for (const m of [this.pods, this.world]) for (const [f, list] of m) m.set(f, sortRanges(list));
  }

  /** The identity the forward chain loads for an address (0: in no map, the cleared register). */
  identity(ipText: string): number {
    const known = this.identities.get(ipText);
    if (known !== undefined) return known;
    const id = this.source ? membershipIdentity(this.source.membership, ipText) : this.indexedIdentity(ipText);
    if (this.identities.size >= 100_000) this.identities.clear();
    this.identities.set(ipText, id);
    return id;
  }

  private indexedIdentity(ipText: string): number {
    const ip = parseIp(ipText);
    return ip ? (findRange(this.pods.get(ip.family)!, ip.value) ?? findRange(this.world.get(ip.family)!, ip.value) ?? 0) : 0;
  }

  private profile(d: Direction, subject: number, peer: number): number | undefined {
    return this.source ? pairProfile(this.source.membership, d, subject, peer) : this.pairs.get(`${d}/${subject}/${peer}`);
  }

  /** One side for one port; port undefined: the same verdict for every port, else undefined. */
  private side(d: Direction, subject: number, peer: number, proto: number, port: number | undefined): Side | undefined {
    const fallback: Side = this.isolated[d].has(subject) ? 'drop' : 'continue';
    const profile = this.profile(d, subject, peer);
    const entries = profile === undefined ? undefined : this.ports.get(`${d}/${profile}`);
    if (!entries) return fallback;
    if (port !== undefined) {
      for (const e of entries) if (e.protoFrom <= proto && proto <= e.protoTo && e.portFrom <= port && port <= e.portTo) return e.drop ? 'drop' : 'allow';
      return fallback;
    }
    // every port: the matching entries must agree with each other and, when they leave gaps, with the fallback
    const hits = entries.filter((e) => e.protoFrom <= proto && proto <= e.protoTo).sort((a, b) => a.portFrom - b.portFrom);
    if (hits.length === 0) return fallback;
    const verdicts = new Set<Side>(hits.map((e) => (e.drop ? 'drop' : 'allow')));
    let next = 0;
    for (const e of hits) {
      if (e.portFrom > next) verdicts.add(fallback);
      next = Math.max(next, e.portTo + 1);
    }
    if (next <= 65535) verdicts.add(fallback);
    // allow and continue both let the packet on to the next side / accept
    const passes = (v: Side) => v !== 'drop';
    const all = [...verdicts];
    if (all.every(passes)) return 'allow';
    if (all.every((v) => !passes(v))) return 'drop';
    return undefined;
  }

  /**
   * Whether the forward chain would accept the first packet of a flow (conntrack NEW) from
   * `src` to `dst` (after DNAT) with l4proto `proto` and destination port `port` (undefined: a
   * protocol without ports; `icmpv6Type` for ICMPv6). undefined: the verdict depends on header
   * bytes the tuple does not give.
   */
  accepts(src: string, dst: string, proto: number, port: number | undefined, icmpv6Type?: number): boolean | undefined {
    if (proto === 58 && icmpv6Type !== undefined && ND_TYPES.has(icmpv6Type)) return true;
    const s = this.identity(src);
    const d = this.identity(dst);
    const egress = this.side('egress', s, d, proto, port);
    if (egress === 'drop') return false;
    const ingress = this.side('ingress', d, s, proto, port);
    if (ingress === 'drop') return false;
    if (egress === undefined || ingress === undefined) return undefined;
    return true;
  }
}

/** The pod map (a pod's own element) if it holds the address, else the world ranges, else 0. */
function membershipIdentity(m: Membership, ipText: string): number {
  const own = elementAt({ elements: m.identityElements }, ipText);
  if (own && own.pod !== undefined) return own.identity;
  return elementAt({ elements: m.world }, ipText)?.identity ?? 0;
}

function bounds(k: NftElementKey): [number, number] {
  if (typeof k === 'object' && k !== null && 'range' in k) return [Number(k.range[0]), Number(k.range[1])];
  return [Number(k), Number(k)];
}

/**
 * Whether an element diff can deny a flow the table accepted before (false = proven it cannot,
 * so established flows need no check). It cannot when it only removes isolation, adds pairs
 * whose profile (in `next`) has allow elements only, and adds allow port elements: every flow
 * then meets the same elements as before plus allows that replace "nothing decided" or an
 * isolation drop. Any change of an address's identity, any deleted or replaced pair/port element,
 * any new isolation or new drop element may deny something: true.
 */
export function diffCanDeny(diff: MembershipDiff, next: Membership): boolean {
  if (diff.identity.add.length || diff.identity.delete.length || diff.world.add.length || diff.world.delete.length) return true;
  if (diff.pairs.delete.length || diff.ports.delete.length) return true;
  if (diff.isolated.egress.add.length || diff.isolated.ingress.add.length) return true;
  if (diff.ports.add.some((p) => p.rule.action !== 'allow')) return true;
  if (diff.pairs.add.length) {
    const dropProfiles = new Set<string>();
    for (const p of next.layout.ports) if (p.rule.action !== 'allow') dropProfiles.add(`${p.direction}/${p.profile}`);
    if (diff.pairs.add.some((p) => dropProfiles.has(`${p.direction}/${p.profile}`))) return true;
  }
  return false;
}
