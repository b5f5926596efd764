// `policyc cni install` into temp dirs: the binary copied, a 1.0.0 conflist podman accepts.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { command } from '../cli/commands/cni-install.js';
import { ensurePluginBuilt } from './testing/plugin.js';
import { missingRequirements } from './testing/requirements.js';

function io() {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (d) => (stdout += d));
  err.on('data', (d) => (stderr += d));
  return { io: { stdout: out, stderr: err, cwd: process.cwd() }, text: () => ({ stdout, stderr }) };
}

describe('policyc cni install', () => {
  let dir: string;
  beforeAll(async () => {
    if (!missingRequirements().includes("the 'cc' command")) await ensurePluginBuilt();
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pcni-install-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('copies the plugin and writes the conflist', async () => {
    const c = io();
    const code = await command.run(
      ['--bin-dir', join(dir, 'bin'), '--conf-dir', join(dir, 'net.d'), '--pod-cidr', '10.244.1.0/24,fd00:244:1::/64', '--socket=/run/x.sock', '--name', 'k8s', '--overlay', 'vxlan'],
      c.io,
    );
    expect(code, c.text().stderr).toBe(0);
    expect((await stat(join(dir, 'bin', 'policyc-cni'))).mode & 0o111).toBeTruthy();
    const conflist = JSON.parse(await readFile(join(dir, 'net.d', '10-k8s.conflist'), 'utf8'));
    expect(conflist).toEqual({
      cniVersion: '1.0.0',
      name: 'k8s',
      plugins: [{ type: 'policyc-cni', podCIDR: ['10.244.1.0/24', 'fd00:244:1::/64'], daemonSocket: '/run/x.sock', overlay: 'vxlan', capabilities: { ips: true } }],
    });
  });

  it('refuses missing --pod-cidr and unknown options with usage', async () => {
    for (const args of [[], ['--frob', 'x'], ['--pod-cidr', '10.0.0.0/24', '--mtu', 'big']]) {
      const c = io();
      expect(await command.run(args, c.io)).toBe(2);
      expect(c.text().stderr).toContain('usage:');
    }
  });
});
