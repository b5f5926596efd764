// `policyc cni install`: copy the CNI plugin binary and write the network's conflist.
import type { Command } from '../command.js';
import { exitCodes } from '../command.js';
import { installPlugin, locatePluginBinary } from '../../cni/install.js';

const USAGE =
  'policyc cni install --pod-cidr CIDR[,CIDR6] [--bin-dir /opt/cni/bin] [--conf-dir /etc/cni/net.d] [--socket /run/policyc/policyc.sock] [--name policyc] [--mtu N] [--overlay vxlan]';

export const command: Command = {
  name: 'cni install',
  summary: 'install the policyc CNI plugin binary and conflist on this node',
  usage: USAGE,
  async run(args, io) {
    const o: Record<string, string> = { 'bin-dir': '/opt/cni/bin', 'conf-dir': '/etc/cni/net.d', name: 'policyc' };
    for (let i = 0; i < args.length; i++) {
      const m = (args[i] as string).match(/^--(bin-dir|conf-dir|pod-cidr|socket|name|mtu|overlay)(?:=(.*))?$/);
      const value = m?.[2] ?? args[++i];
      if (!m?.[1] || value === undefined) {
        io.stderr.write(`policyc cni install: bad argument ${args[m ? i - 1 : i]}\nusage: ${USAGE}\n`);
        return exitCodes.usage;
      }
      o[m[1]] = value;
    }
    const mtu = o.mtu === undefined ? undefined : Number(o.mtu);
    if (!o['pod-cidr'] || (mtu !== undefined && !Number.isInteger(mtu)) || (o.overlay !== undefined && o.overlay !== 'vxlan')) {
      io.stderr.write(`policyc cni install: --pod-cidr is required; --mtu must be an integer; --overlay only takes vxlan\nusage: ${USAGE}\n`);
      return exitCodes.usage;
    }
    const binary = await locatePluginBinary();
    if (!binary) {
      io.stderr.write('policyc cni install: cni/bin/policyc-cni is not built; run `bash cni/build.sh` (npm run build does)\n');
      return exitCodes.failed;
    }
    const written = await installPlugin(
      {
        binDir: o['bin-dir'] as string,
        confDir: o['conf-dir'] as string,
        podCidrs: (o['pod-cidr'] as string).split(',').map((s) => s.trim()),
        socketPath: o.socket,
        name: o.name as string,
        mtu,
        overlay: o.overlay as 'vxlan' | undefined,
      },
      binary,
    );
    io.stdout.write(`installed ${written.binary}\nwrote ${written.conflist}\n`);
    return exitCodes.ok;
  },
};
