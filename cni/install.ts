// `policyc cni install`: put the plugin binary where runtimes look (CNI_PATH) and a
// conflist where they read networks. cniVersion 1.0.0 because podman 4.3 rejects 1.1.0
// results; the `ips` capability lets a runtime (or the lab) ask for a specific pod IP.
import { copyFile, chmod, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDir, writeFileAtomic } from '../dataplane/daemon/atomic-file.js';
import { locateCniBinary } from './binaries.js';

export const PLUGIN_TYPE = 'policyc-cni';

export interface InstallOptions {
  binDir: string;
  confDir: string;
  podCidrs: string[];
  socketPath?: string;
  spoolDir?: string;
  name: string;
  mtu?: number;
  overlay?: 'vxlan';
}

export function buildConflist(o: InstallOptions): object {
  return {
    cniVersion: '1.0.0',
    name: o.name,
    plugins: [
      {
        type: PLUGIN_TYPE,
        podCIDR: o.podCidrs.length === 1 ? o.podCidrs[0] : o.podCidrs,
        ...(o.socketPath ? { daemonSocket: o.socketPath } : {}),
        ...(o.spoolDir ? { spoolDir: o.spoolDir } : {}),
        ...(o.mtu ? { mtu: o.mtu } : {}),
        ...(o.overlay ? { overlay: o.overlay } : {}),
        capabilities: { ips: true },
      },
    ],
  };
}

/** The built C binary (cni/bin/policyc-cni). */
export async function locatePluginBinary(): Promise<string | undefined> {
  return locateCniBinary(PLUGIN_TYPE);
}

/** Returns the paths written. */
export async function installPlugin(o: InstallOptions, binary: string): Promise<{ binary: string; conflist: string }> {
  await ensureDir(o.binDir);
  await ensureDir(o.confDir);
  const target = join(o.binDir, PLUGIN_TYPE);
  // copy then rename: a runtime exec'ing the plugin meanwhile sees the old or the new binary
  const tmp = `${target}.tmp-${process.pid}`;
  await copyFile(binary, tmp);
  await chmod(tmp, 0o755);
  await rename(tmp, target);
  const conflist = join(o.confDir, `10-${o.name}.conflist`);
  await writeFileAtomic(conflist, JSON.stringify(buildConflist(o), null, 2) + '\n');
  await chmod(conflist, 0o644);
  return { binary: target, conflist };
}
