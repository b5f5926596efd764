import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, MAX_FRAME_BYTES } from './framing.js';

describe('framing', () => {
  it('decodes frames split and joined arbitrarily', () => {
    const bytes = Buffer.concat([encodeFrame({ a: 1 }), encodeFrame({ b: 'é' }), encodeFrame([])]);
    for (const size of [1, 3, 7, bytes.length]) {
      const d = new FrameDecoder();
      const out: unknown[] = [];
      for (let i = 0; i < bytes.length; i += size) for (const f of d.push(bytes.subarray(i, i + size))) out.push(JSON.parse(f.toString()));
      expect(out).toEqual([{ a: 1 }, { b: 'é' }, []]);
    }
  });

  it('decodes any frames split at any points (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue(), { maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 30 }), (messages, cuts) => {
        const bytes = Buffer.concat(messages.map((m) => encodeFrame(m)));
        const d = new FrameDecoder();
        const out: unknown[] = [];
        let at = 0;
        for (let k = 0; at < bytes.length; k++) {
          const size = cuts[k % cuts.length];
          for (const f of d.push(bytes.subarray(at, at + size))) out.push(JSON.parse(f.toString()));
          at += size;
        }
        expect(out).toEqual(messages.map((m) => JSON.parse(JSON.stringify(m))));
      }),
    );
  });

  it('decodes a large frame sent in socket-sized chunks, and the frame after it', () => {
    const big = { artifact: 'x'.repeat(8 << 20) };
    const bytes = Buffer.concat([encodeFrame(big), encodeFrame({ next: true })]);
    const d = new FrameDecoder();
    const out: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 65536) out.push(...d.push(bytes.subarray(i, i + 65536)));
    expect(out).toHaveLength(2);
    expect(out[0].length).toBe(Buffer.byteLength(JSON.stringify(big)));
    expect(JSON.parse(out[1].toString())).toEqual({ next: true });
  });

  it('refuses an oversized frame', () => {
    const header = Buffer.alloc(4);
    header.writeUInt32BE(MAX_FRAME_BYTES + 1);
    expect(() => new FrameDecoder().push(header)).toThrow(/exceeds/);
  });
});
