// startDaemon: the node agent in one call, for the CLI (`policyc daemon`), tests and the
// lab. It owns the socket, the handler registry, the endpoint registry and readiness;
// subsystems plug in as request types ('cni' now; the policy side adds 'artifacts',
// 'status', 'cluster-state' through registerHandler).
import { join } from 'node:path';
import { startCni, type CniService } from '../../cni/server/register.js';
import { ensureDir } from './atomic-file.js';
import { EndpointRegistry } from './endpoints.js';
import { HandlerRegistry, type RequestHandler } from './handlers.js';
import { listenUnix } from './server.js';
import { attachPolicy, type PolicyDaemonOptions } from '../policy/hook.js'; // policy engine hook

export const DEFAULT_STATE_DIR = '/var/lib/policyc';
export const DEFAULT_SOCKET = '/run/policyc/policyc.sock';

// PolicyDaemonOptions (dataplane/policy/hook.ts): `policy`, `requirePolicy`, `dropSamples`, `nodeName`, `flushDeniedFlows`, `lingerSubjects`
export interface DaemonOptions extends PolicyDaemonOptions {
  stateDir?: string;
  socketPath?: string;
  /** compiled policy artifacts to load (used by the policy side's handler) */
  artifactsDir?: string;
  /** where the CNI plugin queues DELs while we are down; default <stateDir>/cni-spool */
  spoolDir?: string;
  /** the node's network namespace (name or path); unset = the daemon's own. Tests and the lab set it. */
  hostNetns?: string;
  /** how pods are wired: 'netlink' (the policyc-wire helper; default when built) or 'ip' */
  wiring?: 'netlink' | 'ip';
  /** diagnostics; default: stderr */
  log?: (msg: string) => void;
}

export interface Daemon {
  readonly socketPath: string;
  readonly stateDir: string;
  readonly artifactsDir?: string;
  readonly endpoints: EndpointRegistry;
  readonly cni: CniService;
  registerHandler(type: string, handler: RequestHandler): void;
  /** Dataplane readiness (CNI STATUS): true until the policy side says otherwise. */
  setReady(ready: boolean): void;
  isReady(): boolean;
  /** Resolves when no request or background work is pending. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

const SPOOL_RESCAN_MS = 30_000;

export async function startDaemon(options: DaemonOptions = {}): Promise<Daemon> {
  const stateDir = options.stateDir ?? DEFAULT_STATE_DIR;
  const socketPath = options.socketPath ?? DEFAULT_SOCKET;
  const log = options.log ?? ((msg: string) => process.stderr.write(`policyc daemon: ${msg}\n`));
  await ensureDir(stateDir);
  let ready = true;
  const handlers = new HandlerRegistry();
  const endpoints = await EndpointRegistry.open(stateDir);
  // spooled DELs are replayed before the socket opens, so they precede any new ADD
  const cni = await startCni(handlers, {
    stateDir,
    spoolDir: options.spoolDir ?? join(stateDir, 'cni-spool'),
    hostNetns: options.hostNetns,
    wiring: options.wiring,
    endpoints,
    isReady: () => ready,
    log,
  });
  // policy engine hook (dataplane/policy/): when artifactsDir or `policy` is set it registers
  // 'artifacts', 'cluster-state', 'status', 'metrics' and holds readiness false until a policy
  // is loaded (requirePolicy, default true); started before the socket so no ADD slips in first
  const policy = await attachPolicy(options, { stateDir, hostNetns: options.hostNetns, artifactsDir: options.artifactsDir, endpoints, log, register: (t, h) => handlers.register(t, h), setReady: (r) => (ready = r) });
  const server = await listenUnix(socketPath, handlers, log);
  const rescan = setInterval(() => void cni.replaySpool().catch((e: Error) => log(`spool: ${e.message}`)), SPOOL_RESCAN_MS);
  rescan.unref();
  return {
    socketPath,
    stateDir,
    artifactsDir: options.artifactsDir,
    endpoints,
    cni,
    registerHandler: (type, handler) => handlers.register(type, handler),
    setReady: (r) => {
      ready = r;
    },
    isReady: () => ready,
    idle: () => cni.idle(),
    close: async () => {
      clearInterval(rescan);
      await server.close();
      await policy?.close(); // policy engine hook
      await cni.close();
    },
  };
}
