// A one-request client of the daemon socket (the CLI's `policyc status` / `policyc metrics`,
// tests, the bench): one frame out, one frame back.
import { connect } from 'node:net';
import { encodeFrame, FrameDecoder } from '../daemon/framing.js';

export function daemonRequest(socketPath: string, body: unknown, timeoutMs = 30_000): Promise<any> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    const decoder = new FrameDecoder();
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no reply from ${socketPath} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('data', (chunk) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        clearTimeout(timer);
        sock.destroy();
        reject(err);
        return;
      }
      if (frames.length > 0) {
        clearTimeout(timer);
        sock.end();
        try {
          resolve(JSON.parse(frames[0].toString('utf8')));
        } catch (err) {
          reject(err);
        }
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.write(encodeFrame(body));
  });
}

/** A connection kept open for many requests (replies come back in request order). */
export class DaemonConnection {
  private readonly decoder = new FrameDecoder();
  private readonly waiting: Array<{ resolve: (v: any) => void; reject: (e: Error) => void }> = [];
  private constructor(private readonly sock: ReturnType<typeof connect>) {
    sock.on('data', (chunk) => {
      for (const f of this.decoder.push(chunk)) this.waiting.shift()?.resolve(JSON.parse(f.toString('utf8')));
    });
    sock.on('error', (err) => {
      for (const w of this.waiting.splice(0)) w.reject(err);
    });
    sock.on('close', () => {
      for (const w of this.waiting.splice(0)) w.reject(new Error('connection closed'));
    });
  }

  static open(socketPath: string): Promise<DaemonConnection> {
    return new Promise((resolve, reject) => {
      const sock = connect(socketPath);
      sock.once('connect', () => resolve(new DaemonConnection(sock)));
      sock.once('error', reject);
    });
  }

  request(body: unknown): Promise<any> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.sock.write(encodeFrame(body));
    });
  }

  close(): void {
    this.sock.end();
  }
}
