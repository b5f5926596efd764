// Keeps the overlay's own packets out of conntrack on a node.
//
// Why: once anything in a node netns uses conntrack (the policy table's `ct state`, `ct mark`),
// every packet of the netns is tracked, the VXLAN encapsulation too. Its UDP source port is a
// hash of the inner flow, so every new pod-to-pod connection is a new outer "flow": measured in
// the benchmark's cross-node topology, 8,478 inner TCP connections left 15,168 UDP 4789 entries
// next to the 8,478 TCP ones on each node: one per direction (both directions' outer packets go
// to port 4789, so a reply is never the reverse tuple of a request: each direction's first
// packet is NEW and its entry stays UNREPLIED for 30 s), fewer only where hashed source ports
// collide. That is about three entries per connection on each node where one is needed. Nothing
// looks at the outer ones: the policy table hooks `forward` only and never sees the outer packets
// (they are input and output of the node itself), so tracking them is pure overhead on every new
// connection and fills the table. Measured (bench/dataplane-throughput.ts --tracked-overlay, 50k
// pods / 10k policies): new connections/s with this table / without it, paired, median 1.063
// (IQR 1.058-1.078); policyc's rate against a bare kernel 0.739 instead of 0.687.
//
// What: one table per node netns, `table inet policyc_overlay`, with two chains at the raw
// priority (-300, before conntrack at -200) that `notrack` exactly the encapsulation:
//   prerouting  daddr = this node's underlay address, UDP dport = the overlay port,
//               saddr = one of the peers' underlay addresses
//   output      saddr = this node's underlay address, UDP dport = the overlay port,
//               daddr = one of the peers' underlay addresses
// Nothing else is untracked: pod-to-pod (inner) packets stay tracked, the policy relies on
// ct state and ct mark (compiler/emit/nftables/ruleset.ts, the comment on notrack). The
// comparisons are ordered so that forwarded pod traffic fails the first one.
// Addresses of either family (the lab's underlay is IPv4 today; `ip6` matches for an IPv6 one);
// local and peers must share it. The table is separate from the policy table (which the daemon
// replaces whole and which must stay one table, dataplane/policy/artifact.ts) and goes with the
// node netns (`lab down` deletes the namespace). Loaded through dataplane/nft/loader.ts as
// libnftables JSON, one batch (add, delete, add: a full replace whether or not it existed).
import { replaceTable } from '../../compiler/emit/nftables/schema.js';
import { applyRuleset, removeTable, run, type NftResult } from '../nft/loader.js';

export const OVERLAY_TABLE = 'policyc_overlay';
/** NF_IP_PRI_RAW: before conntrack (NF_IP_PRI_CONNTRACK, -200) sees the packet. */
export const RAW_PRIORITY = -300;

export interface UntrackSpec {
  /** this node's underlay address (the VXLAN device's `local`) */
  readonly local: string;
  /** the peers' underlay addresses (the FDB entries' `dst`) */
  readonly peers: readonly string[];
  /** the VXLAN UDP port (`dstport`) */
  readonly port: number;
}

// The subset of libnftables JSON this table needs (compiler/emit/nftables/schema.ts describes the
// policy table's, which has no raw hooks and no notrack).
type AddressField = { payload: { protocol: 'ip' | 'ip6'; field: 'saddr' | 'daddr' } };
type Match = { match: { op: '==' | 'in'; left: AddressField | { payload: { protocol: 'udp'; field: 'dport' } }; right: string | number | { set: string[] } } };
type Statement = Match | { notrack: null };
type Command =
  | { metainfo: { json_schema_version: 1 } }
  | { add: { table: { family: 'inet'; name: string } } }
  | { delete: { table: { family: 'inet'; name: string } } }
  | { add: { chain: { family: 'inet'; table: string; name: string; type: 'filter'; hook: 'prerouting' | 'output'; prio: number; policy: 'accept' } } }
  | { add: { rule: { family: 'inet'; table: string; chain: string; comment: string; expr: Statement[] } } };

export interface UntrackDocument {
  readonly nftables: readonly Command[];
}

function familyOf(address: string): 'ip' | 'ip6' {
  return address.includes(':') ? 'ip6' : 'ip';
}

/** The table for one node: deterministic (peers sorted), exact (addresses, UDP, the port). */
export function untrackDocument(spec: UntrackSpec, table = OVERLAY_TABLE): UntrackDocument {
  const protocol = familyOf(spec.local);
  if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535) throw new Error(`overlay port ${spec.port} is not a UDP port`);
  const peers = [...new Set(spec.peers)].sort();
  if (peers.length === 0) throw new Error('untrackDocument: no peer (nothing to untrack)');
  const stray = peers.filter((p) => familyOf(p) !== protocol || p === spec.local);
  if (stray.length) throw new Error(`untrackDocument: peers ${stray.join(', ')} are not ${protocol === 'ip' ? 'IPv4' : 'IPv6'} addresses other than ${spec.local}`);
  const family = 'inet' as const;
  const address = (field: 'saddr' | 'daddr'): AddressField => ({ payload: { protocol, field } });
  const port: Match = { match: { op: '==', left: { payload: { protocol: 'udp', field: 'dport' } }, right: spec.port } };
  // an anonymous set even for one peer: the same rule shape whatever the node count
  const peerSet = { set: peers };
  const chain = (name: 'prerouting' | 'output'): Command => ({ add: { chain: { family, table, name, type: 'filter', hook: name, prio: RAW_PRIORITY, policy: 'accept' } } });
  return {
    nftables: [
      ...replaceTable(table),
      chain('prerouting'),
      chain('output'),
      {
        add: {
          rule: {
            family,
            table,
            chain: 'prerouting',
            comment: 'overlay encapsulation from a peer node: not tracked',
            expr: [{ match: { op: '==', left: address('daddr'), right: spec.local } }, port, { match: { op: 'in', left: address('saddr'), right: peerSet } }, { notrack: null }],
          },
        },
      },
      {
        add: {
          rule: {
            family,
            table,
            chain: 'output',
            comment: 'overlay encapsulation to a peer node: not tracked',
            expr: [{ match: { op: '==', left: address('saddr'), right: spec.local } }, port, { match: { op: 'in', left: address('daddr'), right: peerSet } }, { notrack: null }],
          },
        },
      },
    ],
  };
}

/** Installs (or replaces) the node's untrack table inside `netns`; throws when nft refuses it (applyRuleset). */
export function untrackEncapsulation(netns: string, spec: UntrackSpec): Promise<NftResult> {
  return applyRuleset(netns, JSON.stringify(untrackDocument(spec)));
}

/** Removes it (no error when absent): the overlay's packets are tracked again. */
export function trackEncapsulation(netns: string): Promise<NftResult> {
  return removeTable(netns, OVERLAY_TABLE);
}

/** Conntrack entries for the encapsulation in `netns` (UDP to `port`): 0 where the table works. Needs `conntrack`. */
export async function encapsulationEntries(netns: string, port: number): Promise<number> {
  const r = await run('ip', ['netns', 'exec', netns, 'conntrack', '-L', '-p', 'udp', '--dport', String(port)]);
  if (!r.ok) throw new Error(`conntrack -L in ${netns}: ${r.stderr.trim()}`);
  return r.stdout.split('\n').filter((l) => l.startsWith('udp')).length;
}
