// Checklist items 1-3: VERSION, error codes, errors as JSON on stdout with non-zero exit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPPORTED_VERSIONS } from '../versions.js';
import { cleanupNetns, createNetns, netnsPath } from '../testing/netns.js';
import { ensurePluginBuilt, runPlugin } from '../testing/plugin.js';
import { startTestDaemon, type TestDaemon } from '../testing/daemon.js';
import { missingRequirements } from '../testing/requirements.js';
import { guardSuite, requirementFrom } from '../../testkit/requirements.js';

const kernel = guardSuite('CNI VERSION and error codes', requirementFrom(missingRequirements(), 'install it, see cni/README.md'));

describe.skipIf(kernel.skip)(kernel.title, () => {
  let node: string;
  let pod: string;
  let t: TestDaemon;
  beforeAll(async () => {
    await ensurePluginBuilt();
    node = await createNetns('node');
    pod = await createNetns('pod');
    t = await startTestDaemon(node);
  });
  afterAll(async () => {
    await t?.stop();
    await cleanupNetns();
  });

  const add = (stdin: unknown, env: Record<string, string | undefined> = {}, command = 'ADD') =>
    runPlugin(node, { command, containerId: 'errs', netns: netnsPath(pod), stdin: stdin as object, env });

  function expectError(r: { code: number; json?: any; stderr: string }, code: number) {
    expect(r.json, r.stderr).toMatchObject({ code, msg: expect.any(String) });
    expect(Object.keys(r.json).sort()).toEqual(['cniVersion', 'code', 'details', 'msg']);
    expect(r.code).toBe(code);
  }

  it('answers VERSION with junk env and empty stdin, listing exactly our versions', async () => {
    for (const stdin of ['', 'not json', '{"cniVersion":"9.9.9"}']) {
      const r = await runPlugin(node, { command: 'VERSION', stdin, env: { CNI_CONTAINERID: '!!', CNI_IFNAME: 'x/y', CNI_NETNS: '/nope' } });
      expect(r.code).toBe(0);
      expect(r.json.supportedVersions).toEqual([...SUPPORTED_VERSIONS]);
      expect(r.json.cniVersion).toBe('1.1.0');
    }
  });

  it('rejects an unsupported cniVersion with code 1', async () => {
    expectError(await add(t.conf({ cniVersion: '0.2.0' })), 1);
    expectError(await add(t.conf({ cniVersion: '2.0.0' })), 1);
  });

  it('rejects CHECK before 0.4.0 and STATUS/GC before 1.1.0 with code 1', async () => {
    expectError(await add(t.conf({ cniVersion: '0.3.1', prevResult: {} }), {}, 'CHECK'), 1);
    expectError(await add(t.conf({ cniVersion: '1.0.0' }), {}, 'STATUS'), 1);
    expectError(await add(t.conf({ cniVersion: '1.0.0', 'cni.dev/valid-attachments': [] }), {}, 'GC'), 1);
  });

  it('rejects an unknown or missing CNI_COMMAND with code 4', async () => {
    expectError(await add(t.conf(), {}, 'FROB'), 4);
    expectError(await add(t.conf(), { CNI_COMMAND: undefined }, ''), 4);
  });

  it('rejects missing or invalid env with code 4, naming the variables', async () => {
    const r = await add(t.conf(), { CNI_NETNS: undefined, CNI_CONTAINERID: undefined });
    expectError(r, 4);
    expect(r.json.msg).toContain('CNI_CONTAINERID');
    expect(r.json.msg).toContain('CNI_NETNS');
    const bad = await add(t.conf(), { CNI_IFNAME: 'this-name-is-too-long' });
    expectError(bad, 4);
    expect(bad.json.details).toContain('CNI_IFNAME');
  });

  it('rejects bad JSON with code 6 and a bad config with code 7', async () => {
    // the plugin finds the socket in the readable prefix; the daemon decodes the rest
    expectError(await add(`{"daemonSocket": ${JSON.stringify(t.socketPath)}, "cniVersion": "1.0.0", `), 6);
    expectError(await add(t.conf({ podCIDR: '10.0.0.0/99' })), 7);
    expectError(await add(t.conf({ mtu: 20 })), 7);
    expectError(await add(t.conf({ name: '' })), 7);
    expectError(await add(t.conf({ podCIDR: undefined })), 7);
  });

  it('answers in the request version and logs only to stderr', async () => {
    const r = await add(t.conf({ cniVersion: '0.4.0', podCIDR: 'junk' }));
    expectError(r, 7);
    expect(r.json.cniVersion).toBe('0.4.0');
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
  });
});
