// The nfnetlink fast path for element batches (element-batch.ts, helper/element-batch.c) against
// libnftables, in two throwaway netns holding the same table: random batches of adds and deletes
// over every hash set/map of the real skeleton (IPv4 and IPv6, verdict elements to its chains)
// must leave the two `nft -j list table` listings equal after each batch; a batch deleting a
// missing element fails whole and changes nothing; a batch touching an interval set is left to
// libnftables; a malformed binary frame ends the helper. Netns names pcfast-<random>, removed in
// afterAll also on failure; nothing runs in the root namespace.
import { mkdtemp, rm } from 'node:fs/promises';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NftDocument } from '../../compiler/emit/nftables/schema.js';
import { guardSuite } from '../../testkit/requirements.js';
import { addNetns, deleteNetns, run } from '../nft/loader.js';
import { fixConcatDeletes, fullReplaceDocument } from './apply.js';
import { parseArtifact, type LoadedArtifact } from './artifact.js';
import { elementTarget, encodeElementBatch, type ElementTarget, type KernelSet } from './element-batch.js';
import { PolicyEngine } from './engine.js';
import { clusterState, POD_IPS, POLICIES_A, relabel } from './fixtures.js';
import { NftHelper } from './nft-helper.js';
import { netnsArgv, NftRunner, netnsTarget } from './nft-exec.js';
import { computeMembership } from '../../compiler/emit/membership.js';
import { compileArtifact, ensureNftHelper, kernelTable, netnsName, policyKernel } from './testing.js';

function loaded(): LoadedArtifact {
  const parsed = parseArtifact(compileArtifact(POLICIES_A));
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.artifact;
}

describe('element batch encoding (no kernel)', () => {
  const artifact = loaded();
  const target = elementTarget(artifact.skeleton)!;

  it('knows exactly the hash sets and maps and the concatenated interval maps of the skeleton', () => {
    expect([...target.sets.keys()].sort()).toEqual([
      'dst_identity_v4',
      'dst_identity_v6',
      'egress_pairs',
      'egress_ports',
      'egress_ports_exact',
      'ingress_pairs',
      'ingress_ports',
      'ingress_ports_exact',
      'isolated_egress',
      'isolated_ingress',
      'src_identity_v4',
      'src_identity_v6',
    ]);
    expect(target.sets.get('egress_ports_exact')).toMatchObject({ key: ['classid', 'inet_proto', 'inet_service'], concat: true, interval: false, keyBytes: 12, data: 'verdict' });
    expect(target.sets.get('ingress_ports')).toMatchObject({ key: ['mark', 'inet_proto', 'inet_service'], concat: true, interval: true, keyBytes: 12, data: 'verdict' });
  });

  it('writes a pipapo element as nft does: key, then key end (nft --debug=netlink on x86: 05000000 00000000 0000e803 - 05000000 000000ff 0000d007)', () => {
    const doc: NftDocument = { nftables: [{ add: { element: { family: 'inet', table: target.table, name: 'egress_ports', elem: [[{ concat: [5, { range: [0, 255] }, { range: [1000, 2000] }] }, { goto: { target: 'c1' } }]] } } }] } as NftDocument;
    const hex = encodeElementBatch(doc, target)!.toString('hex');
    // the classid in network order in an interval key, unlike in a hash key (nft byte-swaps the register first)
    const keyHex = '00000005' + '00000000' + '03e80000';
    const endHex = '00000005' + 'ff000000' + '07d00000';
    // kind byte: goto (2) with the key-end bit (0x80)
    expect(hex).toContain(`0c820000000001${keyHex}${endHex}02${Buffer.from('c1').toString('hex')}`);
    // a single value ends where it starts
    const single = encodeElementBatch({ nftables: [{ delete: { element: { family: 'inet', table: target.table, name: 'egress_ports', elem: [{ concat: [5, 6, 80] }] } } }] } as NftDocument, target)!.toString('hex');
    const one = '00000005' + '06000000' + '00500000';
    expect(single.endsWith(`0c800000000001${one}${one}`)).toBe(true);
  });

  it("writes a key as nft does (nft --debug=netlink: 80000102 00000006 0000bb01 on x86)", () => {
    const doc: NftDocument = { nftables: [{ add: { element: { family: 'inet', table: target.table, name: 'egress_ports_exact', elem: [[{ concat: [0x80000102, 6, 443] }, { goto: { target: 'c1' } }]] } } }] } as NftDocument;
    const body = encodeElementBatch(doc, target)!;
    const key = endianness() === 'LE' ? '020100800600000001bb0000' : '800001020600000001bb0000';
    expect(body.toString('hex')).toContain(key);
    expect(body.toString('hex').endsWith(`${key}02${Buffer.from('c1').toString('hex')}`)).toBe(true);
  });

  it('leaves anything but hash-set elements to libnftables', () => {
    const el = (name: string, elem: unknown[]) => ({ add: { element: { family: 'inet', table: target.table, name, elem } } });
    const doc = (...cmds: unknown[]) => ({ nftables: [{ metainfo: { json_schema_version: 1 } }, ...cmds] }) as NftDocument;
    expect(encodeElementBatch(doc(el('src_identity_v4', [['10.0.0.1', 5]])), target)).toBeInstanceOf(Buffer);
    expect(encodeElementBatch(doc(el('src_identity_v4', [['10.0.0.1', 5]]), el('src_world_v4', [[{ prefix: { addr: '10.0.0.0', len: 8 } }, 5]])), target)).toBeUndefined();
    expect(encodeElementBatch(doc(el('egress_ports', [[{ concat: [1, 6, { range: [80, 90] }] }, { goto: { target: 'c1' } }]])), target)).toBeInstanceOf(Buffer);
    // a range on a host-order field is written in network order (numeric); a backwards range, a prefix: libnftables
    expect(encodeElementBatch(doc(el('egress_ports', [[{ concat: [{ range: [1, 256] }, 6, 80] }, { goto: { target: 'c1' } }]])), target)).toBeInstanceOf(Buffer);
    expect(encodeElementBatch(doc(el('egress_ports', [[{ concat: [1, 6, { range: [90, 80] }] }, { goto: { target: 'c1' } }]])), target)).toBeUndefined();
    expect(encodeElementBatch(doc(el('egress_ports', [[{ concat: [1, 6, { prefix: { addr: 80, len: 8 } }] }, { goto: { target: 'c1' } }]])), target)).toBeUndefined();
    // a range in a hash map's key
    expect(encodeElementBatch(doc(el('egress_ports_exact', [[{ concat: [1, 6, { range: [80, 90] }] }, { goto: { target: 'c1' } }]])), target)).toBeUndefined();
    expect(encodeElementBatch(doc(el('src_identity_v4', [[{ range: ['10.0.0.1', '10.0.0.2'] }, 5]])), target)).toBeUndefined();
    expect(encodeElementBatch(doc(el('src_identity_v4', [['fd00::1', 5]])), target)).toBeUndefined();
    expect(encodeElementBatch(doc(el('nope', [1])), target)).toBeUndefined();
    expect(encodeElementBatch(doc({ add: { chain: { family: 'inet', table: target.table, name: 'x' } } }), target)).toBeUndefined();
    expect(encodeElementBatch(doc(), target)).toBeUndefined();
  });
});

const kernel = guardSuite('element batches over nfnetlink vs libnftables, in throwaway netns', await policyKernel());
const helperPath = kernel.ok ? await ensureNftHelper() : undefined;

/** A small deterministic PRNG (mulberry32): the same batches on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe.skipIf(kernel.skip || !helperPath)(kernel.title, () => {
  const artifact = loaded();
  const target = elementTarget(artifact.skeleton)!;
  const chains = (artifact.skeleton as unknown as Array<Record<string, any>>).map((c) => c.add?.chain?.name as string | undefined).filter((n): n is string => !!n && /^(allow|drop)_/.test(n));
  let dir: string;
  let fastNs: string;
  let slowNs: string;
  let fast: NftRunner;
  let slow: NftRunner;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pcfast-'));
    fastNs = netnsName('pcfast');
    slowNs = netnsName('pcfast');
    await addNetns(fastNs);
    await addNetns(slowNs);
    fast = new NftRunner(netnsTarget(fastNs), join(dir, 'fast'), { helper: helperPath });
    slow = new NftRunner(netnsTarget(slowNs), join(dir, 'slow'), { helper: helperPath });
    const load = JSON.stringify(fullReplaceDocument(artifact, undefined));
    for (const r of [fast, slow]) expect((await r.apply(load)).stderr).toBe('');
  });
  afterAll(async () => {
    await fast?.close();
    await slow?.close();
    if (fastNs) await deleteNetns(fastNs);
    if (slowNs) await deleteNetns(slowNs);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /**
   * The reference: libnftables, as the engine drives it (apply.ts): nft 1.0.6 deletes a
   * concatenated interval element with single-valued parts only in the range form
   * (fixConcatDeletes), and a few only as added, so a refused batch is tried once more as is.
   */
  async function slowApply(doc: NftDocument): Promise<{ ok: boolean; stderr: string }> {
    const r = await slow.apply(JSON.stringify(fixConcatDeletes(doc)));
    return r.ok ? r : slow.apply(JSON.stringify(doc));
  }

  /** The table as nft lists it, each set's elements sorted (a hash set lists in hash order, seeded per set). */
  async function listing(ns: string): Promise<unknown[]> {
    const r = await run('nsenter', [`--net=/run/netns/${ns}`, 'nft', '-j', 'list', 'table', 'inet', target.table]);
    if (!r.ok) throw new Error(r.stderr);
    return (JSON.parse(r.stdout).nftables as Array<Record<string, any>>).map((o) => {
      const decl = o.map ?? o.set;
      if (decl?.elem) decl.elem = [...decl.elem].sort((a: unknown, b: unknown) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
      return o;
    });
  }

  const rand = prng(20261128);
  const int = (n: number) => Math.floor(rand() * n);
  function field(type: string): unknown {
    switch (type) {
      case 'ipv4_addr':
        return `10.${int(4)}.${int(256)}.${int(256)}`;
      case 'ipv6_addr':
        return rand() < 0.5 ? `fd00::${int(65536).toString(16)}` : `fd00:${int(65536).toString(16)}::${int(65536).toString(16)}:${int(65536).toString(16)}`;
      case 'mark':
      case 'classid':
        return rand() < 0.3 ? (0x80000000 | int(1 << 16)) >>> 0 : int(2 ** 32);
      case 'inet_proto':
        return [1, 6, 17, 58, 132, int(256)][int(6)];
      case 'inet_service':
        return rand() < 0.2 ? [0, 1, 80, 443, 65535][int(5)] : int(65536);
    }
    throw new Error(type);
  }
  /** a range or a single value of a network-order field (what an interval key may hold) */
  function rangeOrValue(type: string): unknown {
    if (rand() < 0.5) return field(type);
    const max = type === 'inet_proto' ? 256 : 65536;
    const a = int(max);
    return { range: [a, a + int(max - a)] };
  }
  // an interval element's first field is unique, so no two elements overlap (pipapo refuses overlaps)
  let nextProfile = 0x100;
  function key(s: KernelSet): unknown {
    if (s.interval) return { concat: s.key.map((t, i) => (i === 0 ? nextProfile++ : rangeOrValue(t))) };
    return s.concat ? { concat: s.key.map(field) } : field(s.key[0]);
  }
  function value(s: KernelSet): unknown {
    return s.data === 'verdict' ? { goto: { target: chains[int(chains.length)] } } : field(s.data);
  }

  /** name -> (key JSON -> element) of what both tables hold */
  const held = new Map<string, Map<string, unknown>>([...target.sets.keys()].map((n) => [n, new Map()]));

  /** A random diff in renderElementDiff's shape: deletes of held elements, then adds (new keys, same-value re-adds, replaced values); no key twice but a delete then its re-add. */
  function randomBatch(size: number): NftDocument {
    const del = new Map<string, unknown[]>();
    const add = new Map<string, unknown[]>();
    const touched = new Map<string, Set<string>>([...target.sets.keys()].map((n) => [n, new Set()]));
    const push = (m: Map<string, unknown[]>, name: string, e: unknown) => (m.get(name) ?? m.set(name, []).get(name)!).push(e);
    const names = [...target.sets.keys()];
    for (let i = 0; i < size; i++) {
      const name = names[int(names.length)];
      const s = target.sets.get(name)!;
      const h = held.get(name)!;
      const t = touched.get(name)!;
      const r = rand();
      const existing = [...h.entries()].filter(([k]) => !t.has(k));
      if (r < 0.35 && existing.length > 0) {
        const [k, e] = existing[int(existing.length)];
        t.add(k);
        push(del, name, e);
        h.delete(k);
        if (rand() < 0.3 && s.data !== 'none') {
          // the same key again with another value, in the same batch (a pod changing identity)
          const e2 = [(e as unknown[])[0], value(s)];
          push(add, name, e2);
          h.set(k, e2);
        }
      } else if (r < 0.45 && existing.length > 0) {
        const [k, e] = existing[int(existing.length)];
        t.add(k);
        push(add, name, e); // already there, same value: accepted
      } else {
        const k = key(s);
        const kj = JSON.stringify(k);
        if (h.has(kj) || t.has(kj)) continue;
        t.add(kj);
        const e = s.data === 'none' ? k : [k, value(s)];
        push(add, name, e);
        h.set(kj, e);
      }
    }
    const cmds = (verb: 'add' | 'delete', m: Map<string, unknown[]>) => [...m.keys()].sort().map((name) => ({ [verb]: { element: { family: 'inet', table: target.table, name, elem: m.get(name) } } }));
    return { nftables: [{ metainfo: { json_schema_version: 1 } }, ...cmds('delete', del), ...cmds('add', add)] } as unknown as NftDocument;
  }

  it('random batches over every hash set and concatenated interval map: the same table as libnftables after each batch', async () => {
    for (let b = 0; b < 40; b++) {
      const doc = randomBatch(b % 10 === 9 ? 400 : 1 + int(12));
      if (doc.nftables.length === 1) continue;
      const before = fast.elementBatches.netlink;
      const f = await fast.applyElements(doc, target);
      const s = await slowApply(doc);
      expect(f.stderr, `batch ${b} fast path`).toBe('');
      expect(s.stderr, `batch ${b} libnftables`).toBe('');
      expect(fast.elementBatches.netlink).toBe(before + 1);
      expect(await listing(fastNs), `batch ${b}`).toEqual(await listing(slowNs));
    }
    const total = [...held.values()].reduce((n, h) => n + h.size, 0);
    expect(total).toBeGreaterThan(300);
    for (const name of target.sets.keys()) expect(held.get(name)!.size, name).toBeGreaterThan(0);
  });

  it('a batch larger than one netlink message (several messages, one transaction)', async () => {
    const s = target.sets.get('src_identity_v6')!;
    const elem: unknown[] = [];
    for (let i = 0; i < 3000; i++) elem.push([`fd01::${(i >> 8).toString(16)}:${(i & 255).toString(16)}`, i + 1]);
    expect(s.keyBytes).toBe(16);
    const doc = { nftables: [{ add: { element: { family: 'inet', table: target.table, name: 'src_identity_v6', elem } } }] } as unknown as NftDocument;
    expect((await fast.applyElements(doc, target)).stderr).toBe('');
    expect((await slow.apply(JSON.stringify(doc))).stderr).toBe('');
    const del = { nftables: [{ delete: { element: { family: 'inet', table: target.table, name: 'src_identity_v6', elem } } }] } as unknown as NftDocument;
    const later = await listing(fastNs);
    expect(later).toEqual(await listing(slowNs));
    expect((await fast.applyElements(del, target)).stderr).toBe('');
    expect((await slow.apply(JSON.stringify(del))).stderr).toBe('');
    expect(await listing(fastNs)).toEqual(await listing(slowNs));
  });

  it('deleting a missing element fails the whole batch and leaves the table unchanged', async () => {
    const before = await listing(fastNs);
    const doc = {
      nftables: [
        { add: { element: { family: 'inet', table: target.table, name: 'src_identity_v4', elem: [['10.200.0.1', 7]] } } },
        { delete: { element: { family: 'inet', table: target.table, name: 'egress_pairs', elem: [[{ concat: [123456, 654321] }, 9]] } } },
        { add: { element: { family: 'inet', table: target.table, name: 'isolated_ingress', elem: [424242] } } },
      ],
    } as unknown as NftDocument;
    const f = await fast.applyElements(doc, target);
    const s = await slow.apply(JSON.stringify(doc));
    expect(s.ok).toBe(false);
    expect(f.ok).toBe(false);
    expect(f.stderr).toMatch(/No such file or directory/);
    expect(f.stderr).toMatch(/delete element inet policyc egress_pairs: elements 0-0 of command 1 refused/);
    expect(await listing(fastNs)).toEqual(before);
    expect(await listing(slowNs)).toEqual(before);
  });

  it('an existing key with another value fails as in libnftables; with the same value it is accepted', async () => {
    const s = target.sets.get('dst_identity_v4')!;
    expect(s.data).toBe('mark');
    const add = (v: number) => ({ nftables: [{ add: { element: { family: 'inet', table: target.table, name: 'dst_identity_v4', elem: [['10.201.0.1', v]] } } }] }) as unknown as NftDocument;
    for (const [v, ok] of [
      [5, true],
      [5, true],
      [6, false],
    ] as const) {
      const f = await fast.applyElements(add(v), target);
      const sl = await slow.apply(JSON.stringify(add(v)));
      expect([f.ok, sl.ok], `value ${v}`).toEqual([ok, ok]);
    }
    expect(await listing(fastNs)).toEqual(await listing(slowNs));
  });

  it('pipapo elements: disjoint ranges of one profile, a re-add, an overlap and another value refused as in libnftables', async () => {
    const chain = chains[0];
    const other = chains[1] ?? chains[0];
    const ports = (elem: unknown[], verb: 'add' | 'delete' = 'add') => ({ nftables: [{ [verb]: { element: { family: 'inet', table: target.table, name: 'ingress_ports', elem } } }] }) as unknown as NftDocument;
    const e = (port: unknown, to = chain, proto: unknown = 6) => [{ concat: [0x7001, proto, port] }, { goto: { target: to } }];
    const steps: Array<[string, NftDocument, boolean]> = [
      ['disjoint ranges and values of one profile', ports([e({ range: [1000, 1999] }), e(2000), e({ range: [2001, 3000] }), e(53, chain, 17), e({ range: [0, 65535] }, chain, { range: [50, 51] })]), true],
      ['the same element again, same verdict', ports([e(2000)]), true],
      ['an overlapping range', ports([e({ range: [2500, 3500] })]), false],
      ['the same element with another verdict', ports([e({ range: [1000, 1999] }, other)]), chains[1] === undefined],
      ['a delete (key and key end) then a re-add with another verdict', { nftables: [...ports([e({ range: [1000, 1999] })], 'delete').nftables, ...ports([e({ range: [1000, 1999] }, other)]).nftables] } as NftDocument, true],
      ['a delete of a range no element holds', ports([e({ range: [4000, 4100] })], 'delete'), false],
      ['a delete of the single value', ports([e(2000)], 'delete'), true],
    ];
    for (const [what, doc, ok] of steps) {
      expect(encodeElementBatch(doc, target), what).toBeInstanceOf(Buffer);
      const before = fast.elementBatches.netlink;
      const f = await fast.applyElements(doc, target);
      const sl = await slowApply(doc);
      expect([f.ok, sl.ok], `${what}: ${f.stderr} / ${sl.stderr}`).toEqual([ok, ok]);
      expect(fast.elementBatches.netlink, what).toBe(before + 1);
      expect(await listing(fastNs), what).toEqual(await listing(slowNs));
    }
  });

  it('a batch touching an interval set goes through libnftables, whole', async () => {
    const doc = {
      nftables: [
        { add: { element: { family: 'inet', table: target.table, name: 'src_identity_v4', elem: [['10.202.0.1', 8]] } } },
        { add: { element: { family: 'inet', table: target.table, name: 'src_world_v4', elem: [[{ prefix: { addr: '192.168.0.0', len: 16 } }, 3]] } } },
      ],
    } as unknown as NftDocument;
    expect(encodeElementBatch(doc, target)).toBeUndefined();
    const { netlink, libnftables } = fast.elementBatches;
    expect((await fast.applyElements(doc, target)).stderr).toBe('');
    expect(fast.elementBatches).toEqual({ netlink, libnftables: libnftables + 1 });
    expect((await slow.apply(JSON.stringify(doc))).stderr).toBe('');
    expect(await listing(fastNs)).toEqual(await listing(slowNs));
  });

  it('a malformed binary frame ends the helper; the next request starts a new one', async () => {
    const logs: string[] = [];
    const h = new NftHelper(netnsArgv(netnsTarget(fastNs), [helperPath!]), (m) => logs.push(m));
    try {
      const bad = await h.request(2, Buffer.from([5, 0x61]));
      expect(bad.ok).toBe(false);
      expect(bad.stderr).toMatch(/exited \(code 2\).*malformed element batch: table name/);
      const trailing = encodeElementBatch({ nftables: [{ add: { element: { family: 'inet', table: target.table, name: 'isolated_egress', elem: [77] } } }] } as unknown as NftDocument, target)!;
      const bad2 = await h.request(2, Buffer.concat([trailing, Buffer.from([0])]));
      expect(bad2.stderr).toMatch(/bytes after the last command/);
      const good = await h.request(2, trailing);
      expect(good).toMatchObject({ ok: true, code: 0 });
      expect(h.starts).toBe(3);
    } finally {
      await h.close();
    }
    // the helper's own add (isolated_egress 77), done on the slow side too so later comparisons hold
    expect((await slow.apply(JSON.stringify({ nftables: [{ add: { element: { family: 'inet', table: target.table, name: 'isolated_egress', elem: [77] } } }] }))).stderr).toBe('');
    expect(await listing(fastNs)).toEqual(await listing(slowNs));
  });

  it('the engine sends a one-pod change over nfnetlink; a drifted kernel still falls back to a full replace', async () => {
    const files = compileArtifact(POLICIES_A);
    const engine = await PolicyEngine.start({ stateDir: join(dir, 'engine'), netns: fastNs, setReady: () => undefined, log: () => undefined, reconcileDelayMs: 0, persistDelayMs: 0, nftHelper: helperPath });
    try {
      await engine.pushClusterState(clusterState());
      await engine.loadArtifact(files, 'test');
      const fresh = async () => {
        const a = parseArtifact(files);
        if (!a.ok) throw new Error(a.reason);
        expect((await slow.apply(JSON.stringify(fullReplaceDocument(a.artifact, computeMembership(a.artifact.program, engine.cluster()))))).stderr).toBe('');
        return kernelTable(slowNs);
      };
      const r1 = await engine.pushClusterState(relabel('api2', { role: 'web' }));
      expect(r1).toMatchObject({ kind: 'diff', elements: 4 });
      expect((engine.status() as any).nftElementBatches).toEqual({ netlink: 1, libnftables: 0 });
      expect(await kernelTable(fastNs)).toBe(await fresh());
      await run('nsenter', [`--net=/run/netns/${fastNs}`, 'nft', 'delete', 'element', 'inet', 'policyc', 'src_identity_v4', `{ ${POD_IPS.api2} }`]);
      const r2 = await engine.pushClusterState(relabel('api2', { role: 'api' }));
      expect(r2.kind).toBe('full');
      expect(r2.fallback).toMatch(/refused \(Error: Could not process rule: No such file or directory/);
      expect(await kernelTable(fastNs)).toBe(await fresh());
    } finally {
      await engine.close();
    }
  });
});
