// Plugs the CNI side into a daemon: builds the context, finishes teardowns a previous run
// left, replays spooled DELs, and registers the 'cni' request type.
import type { EndpointRegistry } from '../../dataplane/daemon/endpoints.js';
import type { HandlerRegistry } from '../../dataplane/daemon/handlers.js';
import { PodIpam } from '../ipam/pod-ipam.js';
import { KeyedLock } from '../keyed-lock.js';
import { netnsTarget } from '../wiring/netns.js';
import { TeardownQueue } from '../wiring/teardown.js';
import { ipBatchWirer, netlinkWirer, type Wirer } from '../wiring/veth.js';
import { WireHelper } from '../wiring/wire-helper.js';
import { locateCniBinary } from '../binaries.js';
import type { CniContext } from './context.js';
import { queueTeardown } from './del.js';
import { handleCni } from './handler.js';
import { replaySpool } from './spool.js';

export interface CniOptions {
  stateDir: string;
  spoolDir: string;
  /** the node's netns (name or path); unset = the daemon's own */
  hostNetns?: string;
  endpoints: EndpointRegistry;
  /** 'netlink' (default when cni/bin/policyc-wire is built) or 'ip' (`ip -batch`) */
  wiring?: 'netlink' | 'ip';
  isReady(): boolean;
  log(msg: string): void;
}

export interface CniService {
  ctx: CniContext;
  /** resolves when no CNI work (including background teardown) is pending */
  idle(): Promise<void>;
  /** replays the spool now; also done at start */
  replaySpool(): Promise<number>;
  /** waits for pending work, then stops the netlink helper */
  close(): Promise<void>;
}

export async function startCni(handlers: HandlerRegistry, o: CniOptions): Promise<CniService> {
  const host = netnsTarget(o.hostNetns);
  const ctx: CniContext = {
    endpoints: o.endpoints,
    ipam: new PodIpam(o.stateDir),
    host,
    teardown: new TeardownQueue(host, o.log),
    wirer: chooseWirer(o),
    attachments: new KeyedLock(),
    isReady: o.isReady,
    log: o.log,
  };
  for (const ep of o.endpoints.list()) {
    if (ep.phase === 'deleting') void queueTeardown(ctx, ep, ep);
  }
  const replay = () => replaySpool(o.spoolDir, (r) => handleCni(ctx, r), o.log);
  await replay();
  handlers.register('cni', (request) => handleCni(ctx, request));
  const idle = async () => {
    await ctx.attachments.idle();
    await ctx.teardown.idle();
  };
  return {
    ctx,
    replaySpool: replay,
    idle,
    close: async () => {
      await idle();
      await ctx.wirer.close();
    },
  };
}

function chooseWirer(o: CniOptions): Wirer {
  if (o.wiring === 'ip') return ipBatchWirer;
  const helper = locateCniBinary('policyc-wire');
  if (helper) return netlinkWirer(new WireHelper(helper, o.log));
  if (o.wiring === 'netlink') throw new Error('cni/bin/policyc-wire is not built (bash cni/build.sh)');
  o.log('cni/bin/policyc-wire is not built; wiring pods with `ip -batch` (slower)');
  return ipBatchWirer;
}
