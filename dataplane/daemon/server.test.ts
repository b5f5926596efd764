// The socket server and handler registry without a kernel: mode 0600, routing by type,
// unknown types and bad JSON answered, replies in request order, a stale socket replaced.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder } from './framing.js';
import { HandlerRegistry } from './handlers.js';
import { listenUnix, type SocketServer } from './server.js';

function exchange(path: string, frames: Buffer[]): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    const decoder = new FrameDecoder();
    const replies: unknown[] = [];
    sock.on('data', (d) => {
      for (const f of decoder.push(d)) replies.push(JSON.parse(f.toString()));
      if (replies.length === frames.length) {
        sock.end();
        resolve(replies);
      }
    });
    sock.on('error', reject);
    sock.write(Buffer.concat(frames));
  });
}

describe('daemon socket server', () => {
  let dir: string;
  let server: SocketServer | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pcni-srv-'));
  });
  afterEach(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('routes by type, answers in order, and is mode 0600', async () => {
    const registry = new HandlerRegistry();
    registry.register('slow', async (r) => new Promise((res) => setTimeout(() => res({ echo: r.n }), 30)));
    registry.register('fast', async (r) => ({ echo: r.n }));
    registry.register('boom', async () => {
      throw new Error('kaput');
    });
    expect(() => registry.register('fast', async () => ({}))).toThrow(/already/);
    const path = join(dir, 'run', 'd.sock');
    server = await listenUnix(path, registry, () => {});
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const replies = await exchange(path, [
      encodeFrame({ type: 'slow', n: 1 }),
      encodeFrame({ type: 'fast', n: 2 }),
      encodeFrame({ type: 'nope' }),
      Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('{x:')]),
      encodeFrame({ type: 'boom' }),
    ]);
    expect(replies).toEqual([
      { echo: 1 },
      { echo: 2 },
      { error: "unknown request type 'nope'", known: ['boom', 'fast', 'slow'] },
      { error: 'request is not valid JSON' },
      { error: 'kaput' },
    ]);
  });

  it('replaces a stale socket file but refuses to replace other files', async () => {
    const registry = new HandlerRegistry();
    const path = join(dir, 'd.sock');
    const first = await listenUnix(path, registry, () => {});
    await first.close().catch(() => {});
    server = await listenUnix(path, registry, () => {});
    await server.close();
    server = undefined;
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'plain'), 'x');
    await expect(listenUnix(join(dir, 'plain'), registry, () => {})).rejects.toThrow(/not a socket/);
  });
});
