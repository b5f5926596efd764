// The engine inside startDaemon: the hook registers its request types, CNI STATUS follows
// readiness (fail closed until the first policy, unless requirePolicy is off), and the socket
// serves artifacts, cluster-state, status and metrics. Kernel part inside a throwaway netns.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { command as metricsCommand } from '../../cli/commands/metrics.js';
import { command as statusCommand } from '../../cli/commands/status.js';
import { parseDaemonArgs } from '../daemon/options.js';
import { type Daemon, startDaemon } from '../daemon/start.js';
import { addNetns, deleteNetns } from '../nft/loader.js';
import { daemonRequest } from './client.js';
import { clusterState, POLICIES_A, relabel } from './fixtures.js';
import { parseMetrics } from './metrics.js';
import { compileArtifact, kernelTable, policyKernel } from './testing.js';
import { guardSuite } from '../../testkit/requirements.js';

const kernel = guardSuite('the daemon with its policy engine', await policyKernel());

const CONF = JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'policyc-cni', podCIDR: '10.0.0.0/24' });
const cniStatus = (sock: string) => daemonRequest(sock, { type: 'cni', env: { CNI_COMMAND: 'STATUS' }, stdin: CONF });

it('parses the policy flags', () => {
  expect(parseDaemonArgs(['--policy', 'on', '--require-policy=false', '--host-netns', 'n1'])).toEqual({ options: { policy: true, requirePolicy: false, hostNetns: 'n1' } });
  expect(parseDaemonArgs(['--policy', 'maybe'])).toHaveProperty('error');
});

describe.skipIf(kernel.skip)(kernel.title, () => {
  let dir: string;
  let node: string;
  let daemon: Daemon | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pcpol-daemon-'));
    node = `pcpol-${process.pid.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    await addNetns(node);
  });
  afterEach(async () => {
    await daemon?.close();
    daemon = undefined;
    await deleteNetns(node);
    await rm(dir, { recursive: true, force: true });
  });

  const options = (extra = {}) => ({ stateDir: join(dir, 'state'), socketPath: join(dir, 'd.sock'), hostNetns: node, wiring: 'ip' as const, policy: true, log: () => {}, ...extra });

  it('is not ready until a policy is loaded, then serves status and metrics', async () => {
    daemon = await startDaemon(options());
    const sock = daemon.socketPath;
    expect(daemon.isReady()).toBe(false);
    expect(await cniStatus(sock)).toMatchObject({ exitCode: 50 });
    expect(await daemonRequest(sock, { type: 'status' })).toMatchObject({ ready: false, artifact: null });
    expect(await daemonRequest(sock, { type: 'cluster-state', ...clusterState() })).toMatchObject({ ok: true, kind: 'none' });
    expect(await daemonRequest(sock, { type: 'artifacts', files: { 'manifest.json': '{' } })).toMatchObject({ error: expect.stringMatching(/manifest.json is not JSON.*no policy is loaded/) });
    expect(await daemonRequest(sock, { type: 'artifacts', files: compileArtifact(POLICIES_A) })).toMatchObject({ ok: true, kind: 'full' });
    expect(daemon.isReady()).toBe(true);
    expect(await cniStatus(sock)).toMatchObject({ exitCode: 0 });
    expect(await daemonRequest(sock, { type: 'cluster-state', ...relabel('api2', { role: 'web' }) })).toMatchObject({ ok: true, kind: 'diff', elements: 4 });
    const status = await daemonRequest(sock, { type: 'status' });
    expect(status).toMatchObject({ ready: true, counts: { policies: 2 }, elementsFrom: 'cluster-state', applies: { full: 1, diff: 1 }, lastError: { reason: 'invalid-artifact' } });
    const metrics = await daemonRequest(sock, { type: 'metrics' });
    expect(metrics.contentType).toMatch(/^text\/plain/);
    const names = new Set(parseMetrics(metrics.text).map((s) => s.name));
    for (const n of ['policyc_policies', 'policyc_groups', 'policyc_set_elements', 'policyc_apply_duration_seconds_bucket', 'policyc_apply_errors_total', 'policyc_drops_total', 'policyc_allows_total', 'policyc_last_error_info']) {
      expect(names.has(n), n).toBe(true);
    }
    expect(await kernelTable(node)).not.toBe('');

    // the CLI clients
    const io = () => {
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      let out = '';
      stdout.on('data', (d) => (out += d));
      return { io: { stdout, stderr, cwd: dir }, out: () => out };
    };
    const st = io();
    expect(await statusCommand.run(['--socket', sock], st.io)).toBe(0);
    expect(st.out()).toMatch(/ready: +yes/);
    expect(st.out()).toMatch(/2 policies/);
    const mt = io();
    expect(await metricsCommand.run(['--socket', sock], mt.io)).toBe(0);
    expect(parseMetrics(mt.out()).find((x) => x.name === 'policyc_policies')?.value).toBe(2);
    expect(await statusCommand.run(['--socket', join(dir, 'nope.sock')], io().io)).toBe(1);
  });

  it('with requirePolicy off, pods may start before any policy', async () => {
    daemon = await startDaemon(options({ requirePolicy: false }));
    expect(daemon.isReady()).toBe(true);
    expect(await cniStatus(daemon.socketPath)).toMatchObject({ exitCode: 0 });
    expect(await kernelTable(node)).toBe('');
  });
});
