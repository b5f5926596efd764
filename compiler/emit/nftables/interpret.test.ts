// The chain walk of NftInterpreter: it agrees with the maps' meaning on the goldens, and it
// catches a chain layout that does not implement that meaning (every differential test relies
// on this: NftInterpreter.packet checks the walk against the maps on every packet).

import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NftInterpreter } from './interpret.js';
import type { NftCommand, NftDocument } from './schema.js';

const DIR = new URL('../../../testdata/goldens/nftables/', import.meta.url).pathname;
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.nft.json') && !f.endsWith('.linear.nft.json')).sort();
const goldens = (): NftDocument[] => FILES.map((f) => JSON.parse(readFileSync(DIR + f, 'utf8')) as NftDocument);

function addresses(doc: NftDocument): string[] {
  const out = new Set<string>(['8.8.8.8', '0.0.0.0', '255.255.255.255', '2001:db8::1']);
  for (const c of doc.nftables) if ('add' in c && 'element' in c.add && c.add.element.name.startsWith('src_identity')) for (const e of c.add.element.elem) out.add(String((e as [string, number])[0]));
  return [...out];
}

function withoutRules(doc: NftDocument, drop: (chain: string, expr: string) => boolean): NftDocument {
  return { nftables: doc.nftables.filter((c: NftCommand) => !('add' in c && 'rule' in c.add && drop(c.add.rule.chain, JSON.stringify(c.add.rule.expr)))) };
}

/** (proto, port) pairs: every port element's first protocol and port, and a few more. */
function services(doc: NftDocument): Array<[number, number]> {
  const out = new Map<string, [number, number]>([['6/80', [6, 80]], ['17/53', [17, 53]], ['132/80', [132, 80]], ['6/1', [6, 1]]]);
  const first = (k: unknown) => Number(typeof k === 'object' && k !== null && 'range' in k ? (k as { range: [number, number] }).range[0] : k);
  for (const c of doc.nftables) {
    if (!('add' in c && 'element' in c.add && c.add.element.name.endsWith('_ports'))) continue;
    for (const e of c.add.element.elem) {
      const [, proto, port] = ((e as [{ concat: unknown[] }, unknown])[0]).concat.map(first);
      out.set(`${proto}/${port}`, [proto, port]);
    }
  }
  return [...out.values()];
}

function packets(interp: NftInterpreter, doc: NftDocument): number {
  let n = 0;
  const ips = addresses(doc);
  const svc = services(doc);
  for (const a of ips)
    for (const b of ips) {
      if (a.includes(':') !== b.includes(':')) continue;
      for (const [proto, port] of svc) interp.packet(a, b, proto, port), n++;
    }
  return n;
}

/** Whether a broken variant of some golden fails the walk check. */
function caught(variant: (doc: NftDocument) => NftDocument, message: RegExp): boolean {
  return goldens().some((doc) => {
    try {
      packets(new NftInterpreter(variant(doc)), doc);
      return false;
    } catch (e) {
      if (!message.test(String(e))) throw e;
      return true;
    }
  });
}

describe('NftInterpreter chain walk', () => {
  it('agrees with the maps on every address pair of every golden, and accepts with cleared registers', () => {
    for (const doc of goldens()) {
      const interp = new NftInterpreter(doc);
      expect(packets(interp, doc)).toBeGreaterThan(20);
      const w = interp.walk('8.8.8.8', '8.8.4.4', 6, 80);
      expect(w.chains.slice(0, 3)).toEqual(['forward', 'forward_v4', 'destination_v4']);
    }
  });

  it('catches a layout that skips the reload of the source identity before ingress', () => {
    expect(caught((doc) => withoutRules(doc, (chain, expr) => chain.startsWith('sides_v') && expr.includes('src_identity')), /chain walk/)).toBe(true);
  });

  it('catches a layout without the fallback to 0 (the registers start from garbage)', () => {
    // without world elements, addresses outside the pod maps need the fallback rule
    const noWorld = (doc: NftDocument): NftDocument => ({ nftables: doc.nftables.filter((c) => !('add' in c && 'element' in c.add && /_world_/.test(c.add.element.name))) });
    for (const doc of goldens()) expect(() => packets(new NftInterpreter(noWorld(doc)), noWorld(doc))).not.toThrow();
    expect(caught((doc) => withoutRules(noWorld(doc), (chain, expr) => chain === 'destination_v4' && expr.includes('"value":0')), /chain walk/)).toBe(true);
  });

  it('catches an ingress allow chain that does not clear the scratch registers', () => {
    const variant = (doc: NftDocument): NftDocument => ({
      nftables: doc.nftables.map((c) => {
        if (!('add' in c && 'rule' in c.add && c.add.rule.chain.startsWith('allow_'))) return c;
        return { add: { rule: { ...c.add.rule, expr: c.add.rule.expr.filter((st) => !('mangle' in st)) } } };
      }),
    });
    expect(caught(variant, /scratch registers/)).toBe(true);
  });
});
