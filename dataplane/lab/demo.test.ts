// The bundled demo on real packets: the lab's matrix equals `policyc reach` off the diagonal
// (a pod reaches itself over loopback, which no dataplane sees), for TCP and UDP, including
// destinations that serve nothing on the probed port (a RST or ICMP unreachable still proves
// the packet was delivered).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { missingRequirements } from '../../cni/testing/requirements.js';
import { guardSuite, requirementFrom } from '../../testkit/requirements.js';
import { command as reachCommand } from '../../cli/commands/reach.js';
import { command as labCommand } from '../../cli/commands/lab.js';

const kernel = guardSuite('the demo in the lab', requirementFrom(missingRequirements({ tools: ['nft', 'bridge', 'sysctl'] }), 'install it, see cni/README.md'));
const name = `demo${randomBytes(3).toString('hex')}`;

async function run(cmd: typeof labCommand, args: string[]) {
  let out = '';
  const sink = new Writable({ write: (chunk, _e, cb) => ((out += String(chunk)), cb()) });
  const quiet = new Writable({ write: (_c, _e, cb) => cb() });
  const code = await cmd.run(args, { stdout: sink, stderr: quiet, cwd: process.cwd() });
  return { code, out };
}

describe.skipIf(kernel.skip)(kernel.title, () => {
  beforeAll(async () => {
    expect((await run(labCommand, ['up', '--name', name, '-f', 'testdata/demo/cluster.yaml'])).code).toBe(0);
    expect((await run(labCommand, ['apply', '--name', name, '-f', 'testdata/demo/policies'])).code).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await run(labCommand, ['down', '--name', name]);
  }, 60_000);

  for (const [port, protocol] of [['8080', 'TCP'], ['metrics', 'TCP'], ['53', 'UDP']] as const) {
    it(`agrees with policyc reach on ${port}/${protocol}`, async () => {
      const lab = JSON.parse((await run(labCommand, ['probe', '--name', name, '--port', port, '--protocol', protocol, '-o', 'json'])).out);
      const reach = JSON.parse((await run(reachCommand, ['-f', 'testdata/demo', '--port', port, '--protocol', protocol, '-o', 'json'])).out);
      expect(lab.pods).toEqual(reach.pods);
      const offDiagonal = (m: boolean[][]) => m.map((row, i) => row.map((cell, j) => (i === j ? null : cell)));
      expect(offDiagonal(lab.allowed)).toEqual(offDiagonal(reach.allowed));
    });
  }
});
