// The denied-flow flush without a kernel: the indexed judge against the interpreter of our own
// nftables JSON (NftInterpreter), policyc-conntrack's line format (list lines, delete lines,
// delete counts), the "cannot deny" proof for element diffs.
import { describe, expect, it, vi } from 'vitest';
import { computeMembership, membershipDiff, updateMembership, type Membership, type MembershipDiff } from '../../compiler/emit/membership.js';
import { NftInterpreter } from '../../compiler/emit/nftables/interpret.js';
import { membershipCommands } from '../../compiler/emit/nftables/ruleset.js';
import { fullReplaceDocument } from './apply.js';
import { parseArtifact, type LoadedArtifact } from './artifact.js';
import { ClusterState } from './cluster-state.js';
import { ConntrackFlusher, diffCanDeny, entryLine, FlowJudge, forwardTuple, LocalAddresses, parseDeleteCounts, parseEntryLine } from './conntrack-flush.js';
import { clusterState, POD_IPS, POLICIES_A, POLICIES_B, relabel } from './fixtures.js';
import { compileArtifact } from './testing.js';
import { parseDaemonArgs } from '../daemon/options.js';

// no native helper is found (as on a machine where it was not built); the rest of nft-exec is real
vi.mock('./nft-exec.js', async (importOriginal) => ({ ...(await importOriginal<typeof import('./nft-exec.js')>()), locateNative: () => undefined }));

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
    it(`decides like NftInterpreter on the emitted JSON (policies ${name}; from a fresh and a one-pod-updated membership, and from element commands)`, () => {
      const artifact = load(policies);
      const state = new ClusterState();
      state.apply(clusterState());
      const before = membershipOf(artifact, state);
      state.apply(relabel('other', { role: 'web', app: 'db' }));
      const m = membershipOf(artifact, state);
      // derived by the one-pod path: its pairs are read from decision rows, not a flat list
      const derived = updateMembership(before, artifact.program, state.cluster(), ['x/other']);
      const interp = new NftInterpreter(fullReplaceDocument(artifact, m), artifact.table);
      const judges = [FlowJudge.fromMembership(m), FlowJudge.fromMembership(derived), FlowJudge.fromElements(membershipCommands(m, { table: artifact.table }), artifact.table)];
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

describe('policyc-conntrack lines', () => {
  it('parses TCP with DNAT, ICMP, zones and IPv6, judges the address after DNAT, and deletes by the original tuple', () => {
    const tcp = parseEntryLine('4 6 3 10.99.0.11 10.96.0.10 40000 8080 - 10.99.0.10 10.99.0.11 80 40000 -')!;
    expect(tcp).toMatchObject({ family: 4, proto: 6, protoName: 'tcp', zone: 3, directionalZone: false, orig: { src: '10.99.0.11', dst: '10.96.0.10', sport: 40000, dport: 8080 }, reply: { src: '10.99.0.10', dst: '10.99.0.11', sport: 80, dport: 40000 } });
    expect(forwardTuple(tcp)).toEqual({ src: '10.99.0.11', dst: '10.99.0.10', proto: 6, port: 80 });
    expect(entryLine(tcp)).toBe('4 6 3 10.99.0.11 10.96.0.10 40000 8080 -');
    const udp = parseEntryLine('4 17 0 10.99.0.13 10.99.0.10 5353 53 - 10.99.0.10 10.99.0.13 53 5353 -')!;
    expect(udp.zone).toBe(0);
    expect(forwardTuple(udp)).toEqual({ src: '10.99.0.13', dst: '10.99.0.10', proto: 17, port: 53 });
    const icmp = parseEntryLine('4 1 0 10.99.0.13 10.99.0.10 8 0 77 10.99.0.10 10.99.0.13 - - -')!;
    expect(icmp).toMatchObject({ protoName: 'icmp', orig: { icmpType: 8, icmpCode: 0, icmpId: 77 }, reply: { src: '10.99.0.10' } });
    expect(forwardTuple(icmp)).toEqual({ src: '10.99.0.13', dst: '10.99.0.10', proto: 1, port: undefined, icmpv6Type: undefined });
    expect(entryLine(icmp)).toBe('4 1 0 10.99.0.13 10.99.0.10 8 0 77');
    const icmp6 = parseEntryLine('6 58 0 fd00::2 fd00::3 128 0 9 fd00::3 fd00::2 - - -')!;
    expect(forwardTuple(icmp6)).toMatchObject({ proto: 58, icmpv6Type: 128 });
    const v6 = parseEntryLine('6 6 0 fd00::2 fd00::3 1 2 - fd00::3 fd00::2 2 1 -')!;
    expect(v6).toMatchObject({ family: 6, orig: { src: 'fd00::2', sport: 1 } });
    expect(entryLine(v6)).toBe('6 6 0 fd00::2 fd00::3 1 2 -');
    // other protocols: listed, never judged, never deleted
    const gre = parseEntryLine('4 47 0 10.0.0.1 10.0.0.2 - - - 10.0.0.2 10.0.0.1 - - -')!;
    expect(gre.protoName).toBe('unknown');
    expect(forwardTuple(gre)).toBeUndefined();
    expect(entryLine(gre)).toBeUndefined();
    const directional = parseEntryLine('4 6 1/2 1.1.1.1 2.2.2.2 1 2 - 2.2.2.2 1.1.1.1 2 1 -')!;
    expect(directional).toMatchObject({ zone: undefined, directionalZone: true });
    expect(entryLine(directional)).toBeUndefined();
    // not a line of ours
    for (const bad of [
      '',
      'ipv4     2 tcp      6 431999 ESTABLISHED src=10.99.0.11 dst=10.96.0.10 sport=40000 dport=8080 src=10.99.0.10 dst=10.99.0.11 sport=80 dport=40000 [ASSURED] mark=0 zone=3 use=1',
      '4 6 0 10.0.0.1 10.0.0.2 - - - 10.0.0.2 10.0.0.1 - - -',
      '5 6 0 10.0.0.1 10.0.0.2 1 2 - 10.0.0.2 10.0.0.1 2 1 -',
      '4 6 x 10.0.0.1 10.0.0.2 1 2 - 10.0.0.2 10.0.0.1 2 1 -',
      '4 6 0 10.0.0.1 10.0.0.2 1 2x - 10.0.0.2 10.0.0.1 2 1 -',
      '4 58 0 10.0.0.1 10.0.0.2 128 0 1 10.0.0.2 10.0.0.1 - - -',
      '4 6 0 10.0.0.1 10.0.0.2 1 2 -',
    ])
      expect(parseEntryLine(bad), bad).toBeUndefined();
  });

  it('reads the delete counts', () => {
    expect(parseDeleteCounts('deleted=3 gone=1 failed=0\n')).toEqual({ deleted: 3, gone: 1, failed: 0 });
    expect(parseDeleteCounts('')).toBeUndefined();
    expect(parseDeleteCounts('deleted=3\n')).toBeUndefined();
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

describe('ConntrackFlusher without policyc-conntrack', () => {
  it('fails every flush loudly (log line, lastError, errors counter) before running anything', async () => {
    const logs: string[] = [];
    // a netns that does not exist: nothing may run in it
    const f = new ConntrackFlusher({ target: { kind: 'named', name: 'pcct-never-created' }, log: (m) => logs.push(m) });
    const artifact = load(POLICIES_A);
    for (let i = 0; i < 2; i++) expect(await f.flush({ artifact }, 'full replace')).toBeUndefined();
    expect(logs).toHaveLength(2);
    for (const l of logs) expect(l).toMatch(/^conntrack flush \(full replace\): policyc-conntrack is not built \(bash scripts\/build-native\.sh; needs libnetfilter-conntrack-dev/);
    expect(f.totals).toMatchObject({ runs: 2, errors: 2, flushed: 0 });
    expect(f.status()).toMatchObject({ lastError: expect.stringMatching(/not built/), last: null });
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
