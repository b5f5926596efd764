// NFLOG drop samples: the helper's line format and header decoding (no kernel), then the real
// thing: a tiny ruleset that logs drops with the engine's prefixes, loaded inside a network
// namespace this test creates (pcnflog-<random>, plus a peer namespace sending the packets over
// a veth pair), read by NflogReader through the policy engine. Nothing is created in the root
// netns; the namespaces are removed afterwards, also on failure.
import type { NftDocument, NftStatement } from '../../compiler/emit/nftables/schema.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addNetns, applyRuleset, deleteNetns, run } from '../nft/loader.js';
import { PolicyEngine } from './engine.js';
import { parseMetrics, renderMetrics } from './metrics.js';
import { decodeHeaders, RecentDrops, type DropSample } from './nflog.js';
import { locateNflogHelper, NflogReader, parseNflogLine } from './nflog-reader.js';
import { ensureBuilt, policyKernel } from './testing.js';
import { guardSuite } from '../../testkit/requirements.js';

// IPv4 UDP 127.0.0.1:56629 -> 127.0.0.1:9999 and IPv6 UDP ::1:36312 -> ::1:9999, as policyc-nflog printed them
const V4_UDP = '4500001e794340004011c3897f0000017f000001dd35270f000afe1d6869';
const V6_UDP = '6007d91d000a114000000000000000000000000000000001000000000000000000000000000000018dd8270f000a001d6869';

describe('policyc-nflog lines', () => {
  it('parses the ready line, samples, and ignores foreign prefixes and garbage', () => {
    expect(parseNflogLine('{"ready":true,"group":1}')).toEqual({ kind: 'ready', group: 1 });
    const at = new Date(0);
    const r = parseNflogLine(`{"prefix":"policyc drop 0000abcd np/x/y/ingress/0 ","family":2,"payload":"${V4_UDP}","indev":0,"outdev":1,"hook":3}`, at);
    expect(r.kind).toBe('sample');
    const s = (r as { sample: DropSample }).sample;
    expect(s).toMatchObject({ cookie: '0000abcd', ruleId: 'np/x/y/ingress/0', direction: 'ingress', family: 4, src: '127.0.0.1', dst: '127.0.0.1', protocol: 'udp', sport: 56629, dport: 9999, outdev: 1, at });
    expect(s.indev).toBeUndefined();
    expect(s.payload?.toString('hex')).toBe(V4_UDP);
    const v6 = parseNflogLine(`{"prefix":"policyc drop isolated egress ","family":10,"payload":"${V6_UDP}","indev":2,"outdev":0}`);
    expect((v6 as { sample: DropSample }).sample).toMatchObject({ isolated: 'egress', direction: 'egress', family: 6, src: '::1', dst: '::1', protocol: 'udp', sport: 36312, dport: 9999, indev: 2 });
    expect(parseNflogLine('{"prefix":"someone else ","family":2,"payload":""}').kind).toBe('ignored');
    expect(parseNflogLine('not json').kind).toBe('ignored');
    // a payload that does not parse still gives the rule
    expect(parseNflogLine('{"prefix":"policyc drop 0000abcd np/x/y/egress/1 ","family":2,"payload":"zz"}')).toMatchObject({ kind: 'sample', sample: { ruleId: 'np/x/y/egress/1', family: 4 } });
  });

  it('decodes TCP, IPv6 extension headers and fragments', () => {
    const v4tcp = Buffer.from('4500003ccdbd400040066efc7f0000017f000001d8c81f90691e98ad00000000a002ffd7fe3000000204', 'hex');
    expect(decodeHeaders(v4tcp)).toEqual({ family: 4, src: '127.0.0.1', dst: '127.0.0.1', protocol: 'tcp', sport: 55496, dport: 8080 });
    // a non-first IPv4 fragment: no ports
    const frag = Buffer.from(v4tcp);
    frag.writeUInt16BE(0x0010, 6);
    expect(decodeHeaders(frag)).toEqual({ family: 4, src: '127.0.0.1', dst: '127.0.0.1', protocol: 'tcp' });
    // IPv6 fd00::1 -> fd00::2, hop-by-hop (8 bytes) then a first fragment header, then TCP 1234 -> 443
    const v6 = Buffer.concat([
      Buffer.from('60000000001c0040', 'hex'),
      Buffer.from('fd000000000000000000000000000001', 'hex'),
      Buffer.from('fd000000000000000000000000000002', 'hex'),
      Buffer.from('2c00000000000000', 'hex'), // hop-by-hop: next = 44 (fragment)
      Buffer.from('0600000100000001', 'hex'), // fragment: next = 6, offset 0, M=1
      Buffer.from('04d201bb', 'hex'),
    ]);
    expect(decodeHeaders(v6)).toEqual({ family: 6, src: 'fd00::1', dst: 'fd00::2', protocol: 'tcp', sport: 1234, dport: 443 });
    expect(decodeHeaders(Buffer.from('45', 'hex'))).toEqual({});
  });

  it('keeps the last N samples newest first, counts per rule, and renders the counter', () => {
    const r = new RecentDrops(3);
    for (let i = 0; i < 5; i++) r.add({ cookie: '0000abcd', ruleId: 'np/x/y/ingress/0', direction: 'ingress', at: new Date(i * 1000), src: `10.0.0.${i}`, dst: '10.0.0.9', protocol: 'tcp', dport: 80 });
    r.add({ isolated: 'egress', direction: 'egress', at: new Date(9000) });
    const list = r.list();
    expect(list).toHaveLength(3);
    expect(list[0]).toEqual({ ruleId: 'isolated:egress', isolated: 'egress', direction: 'egress', at: new Date(9000).toISOString() });
    expect(list[1]).toEqual({ ruleId: 'np/x/y/ingress/0', cookie: '0000abcd', direction: 'ingress', src: '10.0.0.4', dst: '10.0.0.9', protocol: 'tcp', dport: 80, at: new Date(4000).toISOString() });
    const text = renderMetrics({ policies: 0, groups: 0, rules: 0, setElements: 0, endpoints: 0, ready: true, applyDuration: new Map(), applyErrors: new Map(), applies: new Map(), dropSamples: r.totals });
    const samples = parseMetrics(text).filter((m) => m.name === 'policyc_drop_samples_total');
    expect(samples).toEqual([
      { name: 'policyc_drop_samples_total', labels: { rule_id: 'np/x/y/ingress/0' }, value: 5 },
      { name: 'policyc_drop_samples_total', labels: { rule_id: 'isolated:egress' }, value: 1 },
    ]);
  });
});

const kernel = guardSuite('NFLOG drop samples in a network namespace', await policyKernel());

const ensureNflogHelper = () => ensureBuilt('nflog', 'policyc-nflog', locateNflogHelper);

async function must(args: readonly string[]): Promise<void> {
  const r = await run('ip', args);
  if (!r.ok) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

const created: string[] = [];
afterAll(async () => {
  for (const ns of created.reverse()) await deleteNetns(ns);
});

/** node (server side, the table and the reader) and peer (sends), joined by a veth pair made inside node. */
async function twoNamespaces(): Promise<{ node: string; peer: string }> {
  const tag = `pcnflog-${process.pid.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const node = tag;
  const peer = `${tag}-c`;
  await addNetns(node);
  created.push(node);
  await addNetns(peer);
  created.push(peer);
  await must(['-n', node, 'link', 'set', 'lo', 'up']);
  await must(['-n', peer, 'link', 'set', 'lo', 'up']);
  await must(['-n', node, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1', 'netns', peer]);
  await must(['-n', node, 'addr', 'add', '10.77.0.1/24', 'dev', 'veth0']);
  await must(['-n', node, 'addr', 'add', 'fd77::1/64', 'dev', 'veth0', 'nodad']);
  await must(['-n', node, 'link', 'set', 'veth0', 'up']);
  await must(['-n', peer, 'addr', 'add', '10.77.0.2/24', 'dev', 'veth1']);
  await must(['-n', peer, 'addr', 'add', 'fd77::2/64', 'dev', 'veth1', 'nodad']);
  await must(['-n', peer, 'link', 'set', 'veth1', 'up']);
  return { node, peer };
}

function ruleset(): NftDocument {
  const family = 'inet' as const;
  const table = 'pcnflog';
  const chain = (name: string, extra: Record<string, unknown> = {}) => ({ add: { chain: { family, table, name, ...extra } } });
  const rule = (c: string, expr: NftStatement[]) => ({ add: { rule: { family, table, chain: c, expr } } });
  const dport = (protocol: 'tcp' | 'udp', port: number, target: string) => rule('input', [{ match: { op: '==', left: { payload: { protocol, field: 'dport' } }, right: port } }, { goto: { target } }]);
  return {
    nftables: [
      { add: { table: { family, name: table } } },
      chain('input', { type: 'filter', hook: 'input', prio: 0, policy: 'accept' }),
      chain('drop_0000abcd'),
      chain('drop_isolated_ingress'),
      chain('drop_other'),
      dport('udp', 7777, 'drop_0000abcd'),
      dport('tcp', 7778, 'drop_isolated_ingress'),
      dport('udp', 7779, 'drop_other'),
      rule('drop_0000abcd', [{ log: { prefix: 'policyc drop 0000abcd np/x/y/ingress/0 ', group: 1 } }, { drop: null }]),
      rule('drop_isolated_ingress', [{ log: { prefix: 'policyc drop isolated ingress ', group: 1 } }, { drop: null }]),
      rule('drop_other', [{ log: { prefix: 'not ours ', group: 1 } }, { drop: null }]),
    ],
  };
}

// UDP 40001 -> 10.77.0.1:7777, UDP 40002 -> [fd77::1]:7777, TCP -> 10.77.0.1:7778, UDP -> 10.77.0.1:7779
const SEND = `
const dgram = require('node:dgram'), net = require('node:net');
const udp = (type, port, host, dport) => new Promise((res) => { const s = dgram.createSocket(type); s.bind(port, () => s.send('x', dport, host, () => { s.close(); res(); })); });
(async () => {
  await udp('udp4', 40001, '10.77.0.1', 7777);
  await udp('udp6', 40002, 'fd77::1', 7777);
  await udp('udp4', 40003, '10.77.0.1', 7779);
  const c = net.connect({ host: '10.77.0.1', port: 7778, timeout: 200 });
  c.on('error', () => {}); c.on('timeout', () => c.destroy());
  setTimeout(() => process.exit(0), 300);
})();
`;

async function until(cond: () => boolean, ms: number, tick: () => Promise<void>): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await tick();
}

describe.skipIf(kernel.skip)(kernel.title, () => {
  it('delivers samples with the rule, addresses and ports, into status and metrics; stops the helper by PID', async () => {
    const helper = await ensureNflogHelper();
    const { node, peer } = await twoNamespaces();
    await applyRuleset(node, ruleset());
    const stateDir = await mkdtemp(join(tmpdir(), 'pcnflog-'));
    const logs: string[] = [];
    const reader = new NflogReader({ netns: node, helper, log: (m) => logs.push(m) });
    let engine: PolicyEngine | undefined;
    try {
      engine = await PolicyEngine.start({ stateDir, netns: node, requirePolicy: false, nftHelper: false, setReady: () => undefined, log: (m) => logs.push(m), dropSamples: reader });
      expect(reader.state, `reader did not bind the group: ${reader.lastError ?? logs.join('\n')}`).toBe('running');
      const pid = reader.pid!;
      expect(pid).toBeGreaterThan(0);
      const seen: DropSample[] = [];
      engine.onDropSample((s) => seen.push(s));
      const has = () => seen.some((s) => s.family === 4 && s.protocol === 'udp') && seen.some((s) => s.family === 6) && seen.some((s) => s.isolated);
      await until(has, 10_000, async () => {
        const r = await run('nsenter', [`--net=/run/netns/${peer}`, process.execPath, '-e', SEND]);
        if (!r.ok) throw new Error(`sender failed: ${r.stderr}`);
        await new Promise((res) => setTimeout(res, 200));
      });
      expect(has(), `samples seen: ${JSON.stringify(seen)}; log: ${logs.join('\n')}`).toBe(true);

      const v4 = seen.find((s) => s.family === 4 && s.cookie)!;
      expect(v4).toMatchObject({ cookie: '0000abcd', ruleId: 'np/x/y/ingress/0', direction: 'ingress', src: '10.77.0.2', dst: '10.77.0.1', protocol: 'udp', sport: 40001, dport: 7777 });
      expect(v4.indev).toBeGreaterThan(0);
      expect(seen.find((s) => s.family === 6)).toMatchObject({ cookie: '0000abcd', ruleId: 'np/x/y/ingress/0', src: 'fd77::2', dst: 'fd77::1', protocol: 'udp', sport: 40002, dport: 7777 });
      expect(seen.find((s) => s.isolated)).toMatchObject({ isolated: 'ingress', src: '10.77.0.2', dst: '10.77.0.1', protocol: 'tcp', dport: 7778 });
      // the foreign prefix on the same group is ignored
      expect(seen.every((s) => s.dport !== 7779)).toBe(true);

      const status = engine.status() as { recentDrops: Array<Record<string, unknown>> };
      expect(status.recentDrops.length).toBe(seen.length);
      expect(status.recentDrops).toContainEqual(expect.objectContaining({ ruleId: 'np/x/y/ingress/0', cookie: '0000abcd', direction: 'ingress', src: '10.77.0.2', dst: '10.77.0.1', protocol: 'udp', dport: 7777 }));
      expect(status.recentDrops).toContainEqual(expect.objectContaining({ ruleId: 'isolated:ingress', isolated: 'ingress', protocol: 'tcp', dport: 7778 }));
      const metrics = parseMetrics(await engine.metrics());
      const counted = metrics.find((m) => m.name === 'policyc_drop_samples_total' && m.labels.rule_id === 'np/x/y/ingress/0');
      expect(counted?.value).toBe(seen.filter((s) => s.ruleId === 'np/x/y/ingress/0').length);

      await engine.close();
      engine = undefined;
      expect(reader.state).toBe('stopped');
      expect(() => process.kill(pid, 0), `policyc-nflog ${pid} still runs after stop()`).toThrow();
    } finally {
      await engine?.close();
      await reader.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it('reports a second reader of the same group in the same netns (EPERM) and keeps retrying until stopped', async () => {
    const helper = await ensureNflogHelper();
    const tag = `pcnflog-${process.pid.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    await addNetns(tag);
    created.push(tag);
    const first = new NflogReader({ netns: tag, helper, group: 5 });
    const logs: string[] = [];
    const second = new NflogReader({ netns: tag, helper, group: 5, log: (m) => logs.push(m) });
    try {
      const h1 = await first.start(() => undefined);
      expect(first.state).toBe('running');
      const h2 = await second.start(() => undefined);
      expect(second.state).toBe('failed');
      expect(second.lastError).toMatch(/another process reads this NFLOG group/);
      expect(logs.join('\n')).toMatch(/restarting in 1 s/);
      await h2.stop();
      await h1.stop();
      expect(second.state).toBe('stopped');
      expect(first.state).toBe('stopped');
    } finally {
      await second.stop();
      await first.stop();
    }
  });
});
