// The long-lived helper life cycle (helper-process.ts) through the policyc-nft client
// (nft-helper.ts), against a stand-in helper: a small Node program speaking policyc-nft's binary
// framing in the test's own netns, so no kernel state is touched (the stand-in never runs nft).
// Restarts are counted (status, policyc_helper_starts_total). The same life cycle under the
// ctnetlink helper's line framing: conntrack-flush.unit.test.ts.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseMetrics, renderMetrics } from './metrics.js';
import { NftHelper } from './nft-helper.js';
import { NftRunner, netnsArgv } from './nft-exec.js';

// Answers `FLAGS:TEXT`; some requests misbehave on purpose.
const FAKE = `
const frame = (rc, out, err) => {
  const o = Buffer.from(out), e = Buffer.from(err), h = Buffer.alloc(12);
  h.writeUInt32BE(8 + o.length + e.length, 0); h.writeInt32BE(rc, 4); h.writeUInt32BE(o.length, 8);
  return Buffer.concat([h, o, e]);
};
const answer = (flags, text) => {
  if (text === 'die') { process.stderr.write('boom\\n'); process.exit(3); }
  if (text === 'hang') return;
  if (text === 'bad') return process.stdout.write(Buffer.from([0, 0, 0, 2, 1, 2]));
  if (text === 'twice') return process.stdout.write(Buffer.concat([frame(0, 'a', ''), frame(0, 'b', '')]));
  if (text === 'fail') return process.stdout.write(frame(1, '', 'Error: No such file or directory'));
  if (text === 'big') {
    // one answer in many small writes: the reader joins them
    const f = frame(0, 'x'.repeat(200000), '');
    let i = 0;
    const next = () => { if (i < f.length) { process.stdout.write(f.subarray(i, i += 4099)); setImmediate(next); } };
    return next();
  }
  process.stdout.write(frame(0, flags + ':' + text, ''));
};
let buf = Buffer.alloc(0);
process.stdin.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
    const len = buf.readUInt32BE(0);
    const flags = buf[4], text = buf.subarray(5, 4 + len).toString();
    buf = buf.subarray(4 + len);
    answer(flags, text);
  }
});
process.stdin.on('end', () => process.exit(0));
`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('policyc-nft client against a stand-in helper', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcnft-fake-'));
  const fake = join(dir, 'policyc-nft');
  writeFileSync(fake, `#!${process.execPath}\n${FAKE}`);
  chmodSync(fake, 0o755);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('answers in order, restarts a helper that died, kills one that hangs or breaks the framing, and counts its starts', async () => {
    const logs: string[] = [];
    const h = new NftHelper(netnsArgv({ kind: 'current' }, [fake]), (m) => logs.push(m));
    try {
      const [a, b, c] = await Promise.all([h.request(0, 'one'), h.request(1, 'two'), h.request(0, 'fail')]);
      expect(a).toEqual({ ok: true, code: 0, stdout: '0:one', stderr: '' });
      expect(b.stdout).toBe('1:two');
      expect(c).toEqual({ ok: false, code: 1, stdout: '', stderr: 'Error: No such file or directory' });
      expect((await h.request(0, 'big')).stdout).toHaveLength(200000);
      expect(h.starts).toBe(1);

      const died = await h.request(0, 'die');
      expect(died).toMatchObject({ ok: false, code: null, stderr: expect.stringMatching(/^policyc-nft exited \(code 3\): boom/) });
      expect(logs.some((l) => /^policyc-nft exited \(code 3\): boom; restarting it on the next request/.test(l))).toBe(true);
      expect((await h.request(0, 'again')).stdout).toBe('0:again');
      expect(h.starts).toBe(2);
      expect(logs.some((l) => /^policyc-nft restarted \(pid \d+, start 2; the previous one \(pid \d+\) exited \(code 3\): boom\)/.test(l))).toBe(true);

      expect(await h.request(0, 'hang', 200)).toMatchObject({ ok: false, stderr: expect.stringMatching(/was killed: no answer to a request within 200 ms/) });
      expect((await h.request(0, 'x')).ok).toBe(true);
      expect(await h.request(0, 'bad')).toMatchObject({ ok: false, stderr: expect.stringMatching(/answered a frame of 2 bytes/) });
      expect((await h.request(0, 'x')).ok).toBe(true);
      // the second frame has no request waiting for it
      expect((await h.request(0, 'twice')).stdout).toBe('a');
      expect((await h.request(0, 'x')).ok).toBe(true);
      expect(logs.some((l) => /answered without a request; killing it/.test(l))).toBe(true);
      expect(h.starts).toBe(5);
      expect(h.broken).toBe(false);

      const text = renderMetrics({ policies: 0, groups: 0, rules: 0, setElements: 0, endpoints: 0, ready: true, applyDuration: new Map(), applyErrors: new Map(), applies: new Map(), helperStarts: { nft: h.starts } });
      expect(parseMetrics(text).filter((s) => s.name === 'policyc_helper_starts_total')).toEqual([{ name: 'policyc_helper_starts_total', labels: { helper: 'nft' }, value: 5 }]);
    } finally {
      await h.close();
    }
    expect(await h.request(0, 'after')).toMatchObject({ ok: false, stderr: 'policyc-nft closed' });
  });

  it('close() stops the helper by PID; a helper that never answered is broken and the runner runs nft instead', async () => {
    const h = new NftHelper(netnsArgv({ kind: 'current' }, [fake]), () => undefined);
    await h.request(0, 'x');
    const pid = (h as unknown as { process: { pid: number } }).process.pid;
    expect(alive(pid)).toBe(true);
    await h.close();
    expect(alive(pid)).toBe(false);
    expect(h.broken).toBe(false);

    // the helper cannot run where it is asked to (a netns that does not exist): nothing may run
    // there, and the fallback `nft` fails the same way
    const logs: string[] = [];
    const scratch = join(dir, 'scratch');
    const r = new NftRunner({ kind: 'named', name: 'pcnft-never-created' }, scratch, { helper: fake, log: (m) => logs.push(m) });
    try {
      expect(r.mode).toBe('helper');
      const run = await r.apply('{"nftables":[]}');
      expect(run.ok).toBe(false);
      expect(r.mode).toBe('exec');
      expect(r.helperStarts).toBe(1);
      expect(logs.some((l) => /^policyc-nft exited .*; running nft per batch instead/.test(l))).toBe(true);
    } finally {
      await r.close();
    }
    expect(new NftRunner({ kind: 'named', name: 'pcnft-never-created' }, scratch, { helper: false }).helperStarts).toBeUndefined();
  });
});
