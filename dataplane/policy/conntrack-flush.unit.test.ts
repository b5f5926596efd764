// The denied-flow flush without a kernel: the indexed judge against the interpreter of our own
// nftables JSON (NftInterpreter), conntrack line parsing and delete lines, the "cannot deny"
// proof for element diffs.
import { describe, expect, it } from 'vitest';
import { computeMembership, membershipDiff, type Membership, type MembershipDiff } from '../../compiler/emit/membership.js';
import { NftInterpreter } from '../../compiler/emit/nftables/interpret.js';
import { membershipCommands } from '../../compiler/emit/nftables/ruleset.js';
import { fullReplaceDocument } from './apply.js';
import { parseArtifact, type LoadedArtifact } from './artifact.js';
import { ClusterState } from './cluster-state.js';
import { deleteLine, deleteLines, diffCanDeny, FlowJudge, forwardTuple, LocalAddresses, parseConntrackLine } from './conntrack-flush.js';
import { clusterState, POD_IPS, POLICIES_A, POLICIES_B, relabel } from './fixtures.js';
import { compileArtifact } from './testing.js';
import { parseDaemonArgs } from '../daemon/options.js';

function load(policies: string): LoadedArtifact {
  const p = parseArtifact(compileArtifact(policies));
  if (!p.ok) throw new Error(p.reason);
  return p.artifact;
}

function membershipOf(artifact: LoadedArtifact, state: ClusterState, previous?: Membership): Membership {
  return computeMembership(artifact.program, state.cluster(), previous);
}

const ADDRESSES = [...Object.values(POD_IPS), '10.99.0.200', '10.98.0.1', '192.0.2.7', '0.0.0.0', '255.255.255.255', 'fd00::1', '::'];
const PROTOS = [1, 6, 17, 132, 47, 58];
const PORTS = [0, 1, 79, 80, 81, 82, 443, 65535];

describe('FlowJudge', () => {
  for (const [name, policies] of [
    ['A', POLICIES_A],
    ['B', POLICIES_B],
  ] as const) {
    it(`decides like NftInterpreter on the emitted JSON (policies ${name}; from the membership and from element commands)`, () => {
      const artifact = load(policies);
      const state = new ClusterState();
      state.apply(clusterState());
      state.apply(relabel('other', { role: 'web', app: 'db' }));
      const m = membershipOf(artifact, state);
      const interp = new NftInterpreter(fullReplaceDocument(artifact, m), artifact.table);
      const judges = [FlowJudge.fromMembership(m), FlowJudge.fromElements(membershipCommands(m, { table: artifact.table }), artifact.table)];
      let accepted = 0;
      let dropped = 0;
      for (const src of ADDRESSES) {
        for (const dst of ADDRESSES) {
          if (src.includes(':') !== dst.includes(':')) continue;
          for (const proto of PROTOS) {
            const perPort = PORTS.map((port) => interp.packet(src, dst, proto, port).accepted);
            for (const judge of judges) {
              expect(judge.identity(src)).toBe(interp.identity('src', src));
              PORTS.forEach((port, i) => expect(judge.accepts(src, dst, proto, port), `${src} -> ${dst} ${proto}/${port}`).toBe(perPort[i]));
              // without a port: an answer only when every port agrees, and then the same
              const any = judge.accepts(src, dst, proto, undefined);
              if (any !== undefined) for (const v of perPort) expect(v).toBe(any);
              if (perPort.every((v) => v === perPort[0]) && proto !== 6 && proto !== 17 && proto !== 132) expect(any).toBe(perPort[0]);
            }
            for (const v of perPort) v ? accepted++ : dropped++;
          }
        }
      }
      // the fixtures exercise both verdicts
      expect(accepted).toBeGreaterThan(0);
      expect(dropped).toBeGreaterThan(0);
    });
  }

  it('accepts ICMPv6 neighbour discovery before any lookup', () => {
    const artifact = load(POLICIES_A);
    const state = new ClusterState();
    state.apply(clusterState());
    const judge = FlowJudge.fromMembership(membershipOf(artifact, state));
    expect(judge.accepts('fd00::1', 'fd00::2', 58, undefined, 135)).toBe(true);
  });
});

describe('conntrack lines', () => {
  it('parses TCP with DNAT, ICMP, zones and IPv6, and judges the address after DNAT', () => {
    const tcp = parseConntrackLine('ipv4     2 tcp      6 431999 ESTABLISHED src=10.99.0.11 dst=10.96.0.10 sport=40000 dport=8080 src=10.99.0.10 dst=10.99.0.11 sport=80 dport=40000 [ASSURED] mark=0 zone=3 use=1')!;
    expect(tcp).toMatchObject({ family: 4, proto: 6, protoName: 'tcp', zone: 3, orig: { src: '10.99.0.11', dst: '10.96.0.10', sport: 40000, dport: 8080 }, reply: { src: '10.99.0.10', sport: 80 } });
    expect(forwardTuple(tcp)).toEqual({ src: '10.99.0.11', dst: '10.99.0.10', proto: 6, port: 80 });
    expect(deleteLine(tcp)).toBe('-D -f ipv4 -p tcp -s 10.99.0.11 -d 10.96.0.10 -r 10.99.0.10 -q 10.99.0.11 --sport 40000 --dport 8080 --reply-port-src 80 --reply-port-dst 40000 -w 3');
    const unreplied = parseConntrackLine('ipv4     2 udp      17 29 src=10.99.0.13 dst=10.99.0.10 sport=5353 dport=53 [UNREPLIED] src=10.99.0.10 dst=10.99.0.13 sport=53 dport=5353 mark=0 use=1')!;
    expect(unreplied.zone).toBe(0);
    expect(forwardTuple(unreplied)).toEqual({ src: '10.99.0.13', dst: '10.99.0.10', proto: 17, port: 53 });
    const icmp = parseConntrackLine('ipv4     2 icmp     1 29 src=10.99.0.13 dst=10.99.0.10 type=8 code=0 id=77 src=10.99.0.10 dst=10.99.0.13 type=0 code=0 id=77 mark=0 use=1')!;
    expect(forwardTuple(icmp)).toEqual({ src: '10.99.0.13', dst: '10.99.0.10', proto: 1, port: undefined, icmpv6Type: undefined });
    expect(deleteLine(icmp)).toBe('-D -f ipv4 -p icmp -s 10.99.0.13 -d 10.99.0.10 -r 10.99.0.10 -q 10.99.0.13 --icmp-type 8 --icmp-code 0 --icmp-id 77 -w 0');
    const v6 = parseConntrackLine('ipv6     10 tcp      6 117 TIME_WAIT src=fd00::2 dst=fd00::3 sport=1 dport=2 src=fd00::3 dst=fd00::2 sport=2 dport=1 [ASSURED] mark=0 use=1')!;
    expect(v6).toMatchObject({ family: 6, orig: { src: 'fd00::2' } });
    const gre = parseConntrackLine('ipv4     2 unknown  47 599 src=10.0.0.1 dst=10.0.0.2 src=10.0.0.2 dst=10.0.0.1 mark=0 use=1')!;
    expect(forwardTuple(gre)).toBeUndefined();
    const directional = parseConntrackLine('ipv4     2 tcp      6 5 CLOSE src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 zone-orig=1 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 zone-reply=2 mark=0 use=1')!;
    expect(directional.zone).toBeUndefined();
    // one line per judged key: both TCP entries (different source ports, one via a VIP) share one; ICMP is exact
    const tcp2 = parseConntrackLine('ipv4     2 tcp      6 431999 ESTABLISHED src=10.99.0.11 dst=10.99.0.10 sport=40001 dport=80 src=10.99.0.10 dst=10.99.0.11 sport=80 dport=40001 [ASSURED] mark=0 zone=3 use=1')!;
    expect(deleteLines([tcp, tcp2, icmp, unreplied])).toEqual([
      '-D -f ipv4 -p tcp -s 10.99.0.11 -r 10.99.0.10 --reply-port-src 80 -w 3',
      deleteLine(icmp),
      '-D -f ipv4 -p udp -s 10.99.0.13 -r 10.99.0.10 --reply-port-src 53 -w 0',
    ]);
    // the pair denied on every port: no port in the filter
    expect(deleteLines([tcp, tcp2], (e) => e.orig.src === '10.99.0.11')).toEqual(['-D -f ipv4 -p tcp -s 10.99.0.11 -r 10.99.0.10 -w 3']);
    expect(parseConntrackLine('conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.')).toBeUndefined();
  });

  it('knows local addresses from the local routing table', () => {
    const local = new LocalAddresses([
      { type: 'local', dst: '127.0.0.0/8' },
      { type: 'local', dst: '169.254.1.1' },
      { type: 'broadcast', dst: '10.1.255.255' },
      { type: 'unicast', dst: '10.99.0.0/24' },
      { type: 'local', dst: '::1' },
    ]);
    expect(['127.0.0.5', '169.254.1.1', '10.1.255.255', '::1', '239.1.1.1', 'ff02::1'].every((a) => local.has(a))).toBe(true);
    expect(['10.99.0.10', '169.254.1.2', 'fd00::1'].some((a) => local.has(a))).toBe(false);
  });
});

describe('--flush-denied-flows', () => {
  it('parses on|off|true|false, default unset (engine default: on)', () => {
    expect(parseDaemonArgs(['--state-dir', '/s'], {})).toEqual({ options: { stateDir: '/s' } });
    expect(parseDaemonArgs(['--flush-denied-flows', 'off', '--policy', 'on'], {})).toEqual({ options: { flushDeniedFlows: false, policy: true } });
    expect(parseDaemonArgs(['--flush-denied-flows=on'], {})).toEqual({ options: { flushDeniedFlows: true } });
    expect(parseDaemonArgs(['--flush-denied-flows=false'], {})).toEqual({ options: { flushDeniedFlows: false } });
    expect(parseDaemonArgs(['--flush-denied-flows', 'maybe'], {})).toHaveProperty('error');
    expect(parseDaemonArgs(['--flush-denied-flows'], {})).toHaveProperty('error');
    expect(parseDaemonArgs(['--drop-samples', 'off'], {})).toEqual({ options: {}, dropSamples: false });
  });
});

describe('diffCanDeny', () => {
  const artifact = load(POLICIES_A);
  const state = new ClusterState();
  state.apply(clusterState());
  const m = membershipOf(artifact, state);
  const empty: MembershipDiff = {
    identity: { add: [], delete: [] },
    world: { add: [], delete: [] },
    pairs: { add: [], delete: [] },
    ports: { add: [], delete: [] },
    isolated: { egress: { add: [], delete: [] }, ingress: { add: [], delete: [] } },
  };

  it('is false only for diffs that add allows or remove isolation', () => {
    expect(diffCanDeny(empty, m)).toBe(false);
    expect(diffCanDeny({ ...empty, isolated: { egress: { add: [], delete: [1] }, ingress: { add: [], delete: [] } } }, m)).toBe(false);
    const allowPort = m.layout.ports.find((p) => p.rule.action === 'allow')!;
    const dropPort = m.layout.ports.find((p) => p.rule.action !== 'allow')!;
    expect(diffCanDeny({ ...empty, ports: { add: [allowPort], delete: [] } }, m)).toBe(false);
    expect(diffCanDeny({ ...empty, ports: { add: [dropPort], delete: [] } }, m)).toBe(true);
    expect(diffCanDeny({ ...empty, ports: { add: [], delete: [allowPort] } }, m)).toBe(true);
    const allowOnly = m.layout.pairs.find((p) => !m.layout.ports.some((q) => q.direction === p.direction && q.profile === p.profile && q.rule.action !== 'allow'))!;
    const withDrop = m.layout.pairs.find((p) => m.layout.ports.some((q) => q.direction === p.direction && q.profile === p.profile && q.rule.action !== 'allow'))!;
    expect(diffCanDeny({ ...empty, pairs: { add: [allowOnly], delete: [] } }, m)).toBe(false);
    expect(diffCanDeny({ ...empty, pairs: { add: [withDrop], delete: [] } }, m)).toBe(true);
    expect(diffCanDeny({ ...empty, isolated: { egress: { add: [1], delete: [] }, ingress: { add: [], delete: [] } } }, m)).toBe(true);
  });

  it('is true for a relabel that moves a pod between identities', () => {
    const s2 = new ClusterState();
    s2.apply(clusterState());
    s2.apply(relabel('api1', { role: 'web' }));
    const next = membershipOf(artifact, s2, m);
    const diff = membershipDiff(m, next);
    expect(diff.identity.add.length).toBeGreaterThan(0);
    expect(diffCanDeny(diff, next)).toBe(true);
  });
});
