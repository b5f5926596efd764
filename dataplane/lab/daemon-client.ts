// A client of the node daemon's socket (u32 big-endian length + JSON per frame).
import { connect } from 'node:net';
import { encodeFrame, FrameDecoder } from '../daemon/framing.js';

export function daemonRequest(socketPath: string, request: Record<string, unknown>, timeoutMs = 30_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    const decoder = new FrameDecoder();
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`daemon at ${socketPath}: no answer to '${String(request.type)}' in ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => sock.write(encodeFrame(request)));
    sock.on('data', (chunk) => {
      try {
        const frames = decoder.push(chunk);
        if (frames.length) {
          clearTimeout(timer);
          sock.end();
          resolve(JSON.parse(frames[0]!.toString('utf8')));
        }
      } catch (err) {
        clearTimeout(timer);
        sock.destroy();
        reject(err as Error);
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** True once the daemon accepts connections. */
export function daemonAccepts(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(socketPath);
    sock.on('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.on('error', () => resolve(false));
  });
}
