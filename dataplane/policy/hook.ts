// How the daemon (dataplane/daemon/start.ts) plugs the policy engine in: one call that
// registers the request types and owns readiness. The engine runs when the daemon was given an
// artifacts directory or `policy: true` (`--policy on`); otherwise the daemon is CNI-only and
// nothing here runs.
//
// Request types (framing.ts: length-prefixed JSON):
//   {type: 'artifacts', files: {name: text}}            -> {ok, kind, elements, durationMs, artifactHash} | {error}
//   {type: 'cluster-state', namespaces?, pods?, nodes?} -> replaces the whole state
//   {type: 'cluster-state', upsert?: [objects], delete?: [{kind, namespace?, name}]}
//   {type: 'status'}                                    -> status JSON (engine.status())
//   {type: 'metrics'}                                   -> {contentType, text} (Prometheus text)
import type { RequestHandler } from '../daemon/handlers.js';
import { PolicyEngine, type EndpointSource } from './engine.js';
import type { DropSampleSource } from './nflog.js';

export interface PolicyDaemonOptions {
  /** run the policy engine even without an artifacts directory (artifacts pushed over the socket) */
  policy?: boolean;
  /** Fail closed: CNI STATUS not ready (50) and ADD "try again later" (11) until a policy is loaded. Default true. */
  requirePolicy?: boolean;
  /** NFLOG drop-sample reader (nflog-reader.ts), started with the engine */
  dropSamples?: DropSampleSource;
  /** this node's name (`--node-name`, env NODE_NAME): node-local tables; unset = cluster-wide */
  nodeName?: string;
  /** `--flush-denied-flows on|off`: delete conntrack entries of established flows a change denies (conntrack-flush.ts). Default on. */
  flushDeniedFlows?: boolean;
  /** `--linger-subjects on|off`: node-local tables keep a departed subject's row for a while (engine.ts lingerSubjects). Default on. */
  lingerSubjects?: boolean;
}

export interface PolicyHookContext {
  stateDir: string;
  /** the node netns the table lives in (DaemonOptions.hostNetns); unset = the daemon's own */
  hostNetns?: string;
  artifactsDir?: string;
  endpoints: EndpointSource;
  register(type: string, handler: RequestHandler): void;
  setReady(ready: boolean): void;
  log(msg: string): void;
}

export interface PolicyHook {
  engine: PolicyEngine;
  close(): Promise<void>;
}

export async function attachPolicy(options: PolicyDaemonOptions, ctx: PolicyHookContext): Promise<PolicyHook | undefined> {
  if (!ctx.artifactsDir && !options.policy) return undefined;
  const engine = await PolicyEngine.start({
    stateDir: ctx.stateDir,
    netns: ctx.hostNetns,
    artifactsDir: ctx.artifactsDir,
    requirePolicy: options.requirePolicy ?? true,
    dropSamples: options.dropSamples,
    nodeName: options.nodeName || undefined,
    flushDeniedFlows: options.flushDeniedFlows ?? true,
    lingerSubjects: options.lingerSubjects ?? true,
    setReady: ctx.setReady,
    endpoints: ctx.endpoints,
    log: ctx.log,
  });
  ctx.register('artifacts', async (req) => {
    const files = req.files;
    if (!files || typeof files !== 'object' || Array.isArray(files)) throw new Error("'artifacts' needs files: {name: text}");
    return { ok: true, ...(await engine.loadArtifact(files as Record<string, string>, 'socket')) };
  });
  ctx.register('cluster-state', async (req) => {
    const { type: _type, ...body } = req;
    return { ok: true, ...(await engine.pushClusterState(body)) };
  });
  ctx.register('status', async () => engine.status());
  ctx.register('metrics', async () => ({ contentType: 'text/plain; version=0.0.4', text: await engine.metrics() }));
  return { engine, close: () => engine.close() };
}
