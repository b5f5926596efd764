// startDaemon as the policy side will use it: extra request types through registerHandler,
// readiness, the 'cni' type answering a client; no kernel needed.
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder } from './framing.js';
import { parseDaemonArgs } from './options.js';
import { type Daemon, startDaemon } from './start.js';

function request(path: string, body: unknown): Promise<any> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    const d = new FrameDecoder();
    sock.on('data', (chunk) => {
      const [f] = d.push(chunk);
      if (f) {
        sock.end();
        resolve(JSON.parse(f.toString()));
      }
    });
    sock.on('error', reject);
    sock.write(encodeFrame(body));
  });
}

describe('startDaemon', () => {
  let dir: string;
  let daemon: Daemon | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pcni-start-'));
  });
  afterEach(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves cni and handlers registered later, and reports readiness to STATUS', async () => {
    daemon = await startDaemon({ stateDir: join(dir, 'state'), socketPath: join(dir, 'd.sock'), log: () => {} });
    daemon.registerHandler('status', async () => ({ ready: daemon!.isReady(), endpoints: daemon!.endpoints.list().length }));
    expect(await request(daemon.socketPath, { type: 'status' })).toEqual({ ready: true, endpoints: 0 });
    const version = await request(daemon.socketPath, { type: 'cni', env: { CNI_COMMAND: 'VERSION' }, stdin: '' });
    expect(version).toEqual({ exitCode: 0, result: { cniVersion: '1.1.0', supportedVersions: ['0.3.1', '0.4.0', '1.0.0', '1.1.0'] } });
    daemon.setReady(false);
    const conf = JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'policyc-cni', podCIDR: '10.0.0.0/24' });
    const status = await request(daemon.socketPath, { type: 'cni', env: { CNI_COMMAND: 'STATUS' }, stdin: conf });
    expect(status).toMatchObject({ exitCode: 50, result: { code: 50, cniVersion: '1.1.0' } });
  });

  it('parses its command line', () => {
    expect(parseDaemonArgs(['--state-dir', '/s', '--socket=/x.sock', '--artifacts', 'out', '--wiring', 'ip'])).toEqual({
      options: { stateDir: '/s', socketPath: '/x.sock', artifactsDir: 'out', wiring: 'ip' },
    });
    expect(parseDaemonArgs(['--nope'])).toEqual({ error: 'unknown option --nope' });
    expect(parseDaemonArgs(['--socket'])).toEqual({ error: '--socket needs a value' });
    expect(parseDaemonArgs(['--wiring', 'magic'])).toHaveProperty('error');
  });
});
