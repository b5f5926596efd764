// The denied-flow flush without a kernel: the indexed judge against the interpreter of our own
// nftables JSON (NftInterpreter), policyc-conntrack's line format (list lines, delete lines,
// delete counts, route lines, answer lines), the "cannot deny" proof for element diffs, and the
// served-mode client (ConntrackHelper, ConntrackFlusher) against a stand-in helper (a small Node
// program speaking the same framing in the test's own netns: no kernel state is touched).
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { computeMembership, membershipDiff, updateMembership, type Membership, type MembershipDiff } from '../../compiler/emit/membership.js';
import { NftInterpreter } from '../../compiler/emit/nftables/interpret.js';
import { membershipCommands } from '../../compiler/emit/nftables/ruleset.js';
import { fullReplaceDocument } from './apply.js';
import { parseArtifact, type LoadedArtifact } from './artifact.js';
import { ClusterState } from './cluster-state.js';
import { ConntrackFlusher, ConntrackHelper, diffCanDeny, entryLine, FlowJudge, forwardTuple, LocalAddresses, parseAnswerLine, parseDeleteCounts, parseEntryLine, parseRouteLine } from './conntrack-flush.js';
import { clusterState, POD_IPS, POLICIES_A, POLICIES_B, relabel } from './fixtures.js';
import { compileArtifact } from './testing.js';
import { parseMetrics, renderMetrics } from './metrics.js';
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

describe('policyc-conntrack serve framing', () => {
  it('reads answer lines and route lines', () => {
    expect(parseAnswerLine('=ok list entries=3 truncated=1', 'list')).toEqual({ entries: '3', truncated: '1' });
    expect(parseAnswerLine('=ok ping', 'ping')).toEqual({});
    expect(parseAnswerLine('=ok list entries=3', 'delete')).toBeUndefined();
    expect(parseAnswerLine('=error list: dump: ENOBUFS', 'list')).toBeUndefined();
    expect(parseAnswerLine('=ok list entries', 'list')).toBeUndefined();
    expect(parseRouteLine('L local 10.0.0.1/32')).toEqual({ type: 'local', dst: '10.0.0.1/32' });
    expect(parseRouteLine('L multicast ff00::/8')).toEqual({ type: 'multicast', dst: 'ff00::/8' });
    for (const bad of ['L local 10.0.0.1', 'local 10.0.0.1/32', 'L local 10.0.0.1/32 x', 'L Local 10.0.0.1/32', 'L local a b/1']) expect(parseRouteLine(bad), bad).toBeUndefined();
  });
});

// A stand-in for `policyc-conntrack serve`: canned answers in the same framing; some requests
// misbehave on purpose. FAKE_ROUTES / FAKE_DELETE_FAIL change its answers.
const FAKE = `
const rl = require('node:readline').createInterface({ input: process.stdin });
const out = (s) => process.stdout.write(s);
let batch = 0, deleted = 0, bad = [];
rl.on('line', (line) => {
  if (batch > 0) {
    batch--;
    if (process.env.FAKE_DELETE_FAIL) bad.push(line); else deleted++;
    if (batch === 0) { for (const b of bad) out('!line 1: delete: Operation not permitted\\n'); out('=ok delete deleted=' + deleted + ' gone=0 failed=' + bad.length + '\\n'); deleted = 0; bad = []; }
    return;
  }
  const [verb, arg] = line.split(' ');
  if (verb === 'ping') out('=ok ping\\n');
  else if (verb === 'local') out((process.env.FAKE_ROUTES ?? 'L local 10.99.0.11/32\\nL local ::1/128\\n') + '=ok local routes=2\\n');
  else if (verb === 'list') out([
    '4 6 0 10.99.0.11 10.99.0.10 40000 1000 - 10.99.0.10 10.99.0.11 1000 40000 -',
    '4 6 0 10.99.0.12 10.99.0.10 40001 1000 - 10.99.0.10 10.99.0.12 1000 40001 -',
    '4 6 0 10.99.0.12 10.99.0.10 40002 80 - 10.99.0.10 10.99.0.12 80 40002 -',
    'not an entry',
  ].join('\\n') + '\\n=ok list entries=4 truncated=0\\n');
  else if (verb === 'delete') { batch = Number(arg); if (batch === 0) out('=ok delete deleted=0 gone=0 failed=0\\n'); }
  else if (verb === 'err') out('=error something broke\\n');
  else if (verb === 'long') out('x'.repeat(5000) + '\\n=ok long\\n');
  else if (verb === 'stray') out('=ok stray\\nstray\\n');
  else if (verb === 'die') { process.stderr.write('boom\\n'); process.exit(3); }
  // hang: no answer
});
`;

describe('ConntrackHelper and ConntrackFlusher against a stand-in helper', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcct-fake-'));
  const fake = join(dir, 'policyc-conntrack');
  writeFileSync(fake, `#!${process.execPath}\n${FAKE}`);
  chmodSync(fake, 0o755);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('answers in order, fails one request alone on =error, and kills a helper that breaks the framing or hangs (the next request starts another)', async () => {
    const logs: string[] = [];
    const h = new ConntrackHelper(fake, { kind: 'current' }, (m) => logs.push(m));
    const ask = (verb: string, opts: { timeoutMs?: number; onLine?: (l: string) => void } = {}) => h.request(verb, `${verb}\n`, { timeoutMs: opts.timeoutMs ?? 5000, onLine: opts.onLine });
    try {
      const lines: string[] = [];
      const [a, b] = await Promise.all([ask('ping'), ask('list', { onLine: (l) => lines.push(l) })]);
      expect(a.fields).toEqual({});
      expect(b.fields).toEqual({ entries: '4', truncated: '0' });
      expect(lines).toHaveLength(4);
      const pid = h.pid!;
      await expect(ask('err')).rejects.toThrow('something broke');
      expect((await ask('ping')).fields).toEqual({});
      expect(h.pid).toBe(pid);
      // a data callback that throws fails that request after its answer is read: the next one is in step
      await expect(ask('list', { onLine: () => { throw new Error('judge broke'); } })).rejects.toThrow('judge broke');
      expect((await ask('ping')).fields).toEqual({});
      expect(h.starts).toBe(1);

      await expect(ask('long')).rejects.toThrow(/longer than 4096|line of 5000 bytes/);
      expect(logs.some((l) => /killing it/.test(l))).toBe(true);
      expect((await ask('ping')).fields).toEqual({});
      expect(h.starts).toBe(2);

      await expect(ask('stray')).resolves.toMatchObject({ fields: {} });
      // the stray line after the answer: killed
      for (let i = 0; i < 100 && h.pid !== undefined; i++) await new Promise((r) => setTimeout(r, 10));
      expect(h.pid).toBeUndefined();
      expect(logs.some((l) => /answered without a request: "stray"/.test(l))).toBe(true);

      await expect(ask('die')).rejects.toThrow(/exited \(code 3\): boom/);
      expect(logs.some((l) => /exited \(code 3\): boom; starting it again at the next flush/.test(l))).toBe(true);

      await expect(ask('hang', { timeoutMs: 200 })).rejects.toThrow(/no answer to hang within 200 ms/);
      expect((await ask('ping')).fields).toEqual({});
      expect(h.starts).toBe(5);
      expect(logs.filter((l) => /serve restarted/.test(l))).toHaveLength(4);
    } finally {
      await h.close();
    }
    await expect(ask('ping')).rejects.toThrow(/closed/);
  });

  it('a flush: local addresses kept, denied entries deleted in one request; failed deletes, bad route lines and a dead helper fail loudly', async () => {
    const artifact = load(POLICIES_A);
    const state = new ClusterState();
    state.apply(clusterState());
    const policy = { artifact, membership: membershipOf(artifact, state) };
    const logs: string[] = [];
    const f = new ConntrackFlusher({ target: { kind: 'current' }, conntrack: fake, log: (m) => logs.push(m) });
    try {
      f.start();
      const pid = (f.status() as any).helper.pid;
      expect(pid).toBeGreaterThan(0);
      // api1 (10.99.0.11) is local here: kept; api2 -> db:1000 denied; api2 -> db:80 allowed
      expect(await f.flush(policy, 'test')).toMatchObject({ listed: 3, local: 1, checked: 2, denied: 1, deleted: 1, deleteFailed: 0 });
      expect(logs.some((l) => /1 lines of .* list did not parse \(kept\)/.test(l))).toBe(true);
      expect(await f.flush(policy, 'test')).toMatchObject({ deleted: 1 });
      expect((f.status() as any).helper).toMatchObject({ pid, starts: 1 });
      expect(f.totals).toMatchObject({ runs: 2, errors: 0, flushed: 2 });

      process.env.FAKE_DELETE_FAIL = '1';
      process.kill(pid, 'SIGKILL'); // the next one starts with the variable set
      for (let i = 0; i < 100 && (f.status() as any).helper.pid !== undefined && (f.status() as any).helper.pid !== null; i++) await new Promise((r) => setTimeout(r, 10));
      expect(await f.flush(policy, 'test')).toBeUndefined();
      expect(f.lastError).toMatch(/delete: 1 of 1 denied entries not deleted \(0 deleted, 0 already gone\): line 1: delete: Operation not permitted/);
      expect((f.status() as any).helper.starts).toBe(2);
      delete process.env.FAKE_DELETE_FAIL;

      process.env.FAKE_ROUTES = 'L local 10.99.0.11\n';
      process.kill((f.status() as any).helper.pid, 'SIGKILL');
      for (let i = 0; i < 100 && (f.status() as any).helper.pid !== null; i++) await new Promise((r) => setTimeout(r, 10));
      expect(await f.flush(policy, 'test')).toBeUndefined();
      expect(f.lastError).toMatch(/local: 1 route lines did not parse/);
      delete process.env.FAKE_ROUTES;

      process.kill((f.status() as any).helper.pid, 'SIGKILL');
      for (let i = 0; i < 100 && (f.status() as any).helper.pid !== null; i++) await new Promise((r) => setTimeout(r, 10));
      expect(await f.flush(policy, 'test')).toMatchObject({ deleted: 1 });
      expect(f.totals).toMatchObject({ runs: 5, errors: 2 });
      expect(logs.filter((l) => /^conntrack flush \(test\): /.test(l) && !/established flows checked/.test(l))).toHaveLength(2);
      // three kills, three restarts: status and policyc_helper_starts_total agree
      expect((f.status() as any).helper.starts).toBe(4);
      expect(f.helperStarts).toBe(4);
      const text = renderMetrics({ policies: 0, groups: 0, rules: 0, setElements: 0, endpoints: 0, ready: true, applyDuration: new Map(), applyErrors: new Map(), applies: new Map(), helperStarts: { nft: undefined, conntrack: f.helperStarts } });
      expect(parseMetrics(text).filter((m) => m.name === 'policyc_helper_starts_total')).toEqual([{ name: 'policyc_helper_starts_total', labels: { helper: 'conntrack' }, value: 4 }]);
    } finally {
      delete process.env.FAKE_DELETE_FAIL;
      delete process.env.FAKE_ROUTES;
      await f.close();
    }
    expect(await f.flush(policy, 'after close')).toBeUndefined();
    expect(f.lastError).toMatch(/closed/);
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
