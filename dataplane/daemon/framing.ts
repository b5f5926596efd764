// Wire format between the daemon and its clients (the C CNI plugin, the CLI, the lab):
// each frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON.
// Length-prefixed rather than newline-delimited so a client in C needs no JSON parser
// to find the end of a message.

export const MAX_FRAME_BYTES = 64 << 20;

export function encodeFrame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

/** Accumulates socket chunks and yields complete frames' bodies. */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  /** Returns the bodies completed by this chunk; throws on an oversized frame. */
  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const frames: Buffer[] = [];
    while (this.pending.length >= 4) {
      const length = this.pending.readUInt32BE(0);
      if (length > MAX_FRAME_BYTES) throw new Error(`frame of ${length} bytes exceeds ${MAX_FRAME_BYTES}`);
      if (this.pending.length < 4 + length) break;
      frames.push(this.pending.subarray(4, 4 + length));
      this.pending = this.pending.subarray(4 + length);
    }
    return frames;
  }
}
