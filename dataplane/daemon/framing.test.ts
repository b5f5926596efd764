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

  it('refuses an oversized frame', () => {
    const header = Buffer.alloc(4);
    header.writeUInt32BE(MAX_FRAME_BYTES + 1);
    expect(() => new FrameDecoder().push(header)).toThrow(/exceeds/);
  });
});
