// A daemon for one test: private state, spool and socket under a temp dir, host side in
// the test's node namespace, log lines collected for assertions.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Daemon, startDaemon } from '../../dataplane/daemon/start.js';

export interface TestDaemon {
  daemon: Daemon;
  dir: string;
  socketPath: string;
  spoolDir: string;
  stateDir: string;
  logs: string[];
  /** a network config wired to this daemon */
  conf(extra?: Record<string, unknown>): Record<string, unknown>;
  /** stop the daemon, keeping its state (the plugin now finds no socket) */
  down(): Promise<void>;
  /** start it again on the same state, spool and socket */
  up(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestDaemon(nodeNs: string, podCIDR: string | string[] = '10.250.0.0/24', wiring?: 'netlink' | 'ip'): Promise<TestDaemon> {
  const dir = await mkdtemp(join(tmpdir(), 'pcni-d-'));
  const socketPath = join(dir, 'policyc.sock');
  const spoolDir = join(dir, 'spool');
  const stateDir = join(dir, 'state');
  const logs: string[] = [];
  const start = () => startDaemon({ stateDir, socketPath, spoolDir, hostNetns: nodeNs, wiring, log: (m) => logs.push(m) });
  const t: TestDaemon = {
    daemon: await start(),
    dir,
    socketPath,
    spoolDir,
    stateDir,
    logs,
    conf: (extra = {}) => ({ cniVersion: '1.0.0', name: 'pcnitest', type: 'policyc-cni', podCIDR, daemonSocket: socketPath, spoolDir, ...extra }),
    down: () => t.daemon.close(),
    up: async () => {
      t.daemon = await start();
    },
    stop: async () => {
      await t.daemon.close().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
  return t;
}
