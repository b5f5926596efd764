// Plugs the CNI side into a daemon: builds the context, finishes teardowns a previous run
// left, replays spooled DELs, and registers the 'cni' request type.
import type { EndpointRegistry } from '../../dataplane/daemon/endpoints.js';
import type { HandlerRegistry } from '../../dataplane/daemon/handlers.js';
import { PodIpam } from '../ipam/pod-ipam.js';
import { KeyedLock } from '../keyed-lock.js';
import { netnsTarget } from '../wiring/netns.js';
import { TeardownQueue } from '../wiring/teardown.js';
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
  isReady(): boolean;
  log(msg: string): void;
}

export interface CniService {
  ctx: CniContext;
  /** resolves when no CNI work (including background teardown) is pending */
  idle(): Promise<void>;
  /** replays the spool now; also done at start */
  replaySpool(): Promise<number>;
}

export async function startCni(handlers: HandlerRegistry, o: CniOptions): Promise<CniService> {
  const host = netnsTarget(o.hostNetns);
  const ctx: CniContext = {
    endpoints: o.endpoints,
    ipam: new PodIpam(o.stateDir),
    host,
    teardown: new TeardownQueue(host, o.log),
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
  return {
    ctx,
    replaySpool: replay,
    idle: async () => {
      await ctx.attachments.idle();
      await ctx.teardown.idle();
    },
  };
}
