// The bundled demo on real packets: the lab's matrix equals `policyc reach` off the diagonal
// (a pod reaches itself over loopback, which no dataplane sees), for TCP and UDP, including
// destinations that serve nothing on the probed port (a RST or ICMP unreachable still proves
// the packet was delivered).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingRequirements } from '../../cni/testing/requirements.js';
import { guardSuite, requirementFrom } from '../../testkit/requirements.js';
import { command as labCommand } from '../../cli/commands/lab.js';
import { cli, offDiagonal, reach } from './testing.js';

const kernel = guardSuite('the demo in the lab', requirementFrom(missingRequirements({ tools: ['nft', 'bridge', 'sysctl'] }), 'install it, see cni/README.md'));
const name = `demo${randomBytes(3).toString('hex')}`;

describe.skipIf(kernel.skip)(kernel.title, () => {
  beforeAll(async () => {
    expect((await cli(labCommand, ['up', '--name', name, '-f', 'testdata/demo/cluster.yaml'])).code).toBe(0);
    expect((await cli(labCommand, ['apply', '--name', name, '-f', 'testdata/demo/policies'])).code).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await cli(labCommand, ['down', '--name', name]);
  }, 60_000);

  for (const [port, protocol] of [['8080', 'TCP'], ['metrics', 'TCP'], ['53', 'UDP']] as const) {
    it(`agrees with policyc reach on ${port}/${protocol}`, async () => {
      const lab = JSON.parse((await cli(labCommand, ['probe', '--name', name, '--port', port, '--protocol', protocol, '-o', 'json'])).stdout);
      expect(offDiagonal(lab)).toEqual(offDiagonal(await reach(['testdata/demo'], port, protocol)));
    });
  }
});
