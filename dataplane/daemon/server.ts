// The daemon's unix socket: frames in, handler replies out, one reply per request in order.
// Mode 0600 (and a 0700 parent when we create it): anyone who can talk to this socket can
// rewire pods, so only root may.
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { encodeFrame, FrameDecoder } from './framing.js';
import type { HandlerRegistry } from './handlers.js';

export interface SocketServer {
  close(): Promise<void>;
}

export async function listenUnix(path: string, registry: HandlerRegistry, log: (msg: string) => void): Promise<SocketServer> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await removeStaleSocket(path);
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serveConnection(socket, registry, log);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(path, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function serveConnection(socket: Socket, registry: HandlerRegistry, log: (msg: string) => void): void {
  const decoder = new FrameDecoder();
  // Replies go out in request order even when handlers finish out of order.
  let queue: Promise<void> = Promise.resolve();
  socket.on('data', (chunk) => {
    let frames: Buffer[];
    try {
      frames = decoder.push(chunk);
    } catch (err) {
      log(`dropping connection: ${(err as Error).message}`);
      socket.destroy();
      return;
    }
    for (const frame of frames) {
      const reply = handleFrame(frame, registry);
      queue = queue.then(async () => {
        const body = await reply;
        if (!socket.destroyed) socket.write(encodeFrame(body));
      });
    }
  });
  socket.on('error', () => socket.destroy());
}

async function handleFrame(frame: Buffer, registry: HandlerRegistry): Promise<unknown> {
  let request: unknown;
  try {
    request = JSON.parse(frame.toString('utf8'));
  } catch {
    return { error: 'request is not valid JSON' };
  }
  return registry.dispatch(request);
}

async function removeStaleSocket(path: string): Promise<void> {
  try {
    const st = await lstat(path);
    if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
