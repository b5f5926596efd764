// The node's policy engine: turns the current artifact + cluster state + local endpoints into
// one nftables table in the node netns, and keeps it there.
//
//   artifact in (socket push or artifacts dir) -> verify + parse -> compute membership ->
//     full replace (one batch); refused (bad hash/JSON, a batch the kernel rejects) = the old
//     table stays, a log line and lastError say why; accepted = persisted as the last good.
//   cluster-state / endpoint change -> one-pod path (incremental.ts: relabels, and pods that
//     appear, vanish or change addresses) or computeMembership (namespaces, nodes, a model
//     behind the state) + membershipDiff -> one element batch; if the kernel refuses it (the model drifted), a full
//     replace. A quiet-period reconcile re-derives the membership from scratch and corrects any
//     difference the one-pod path could have introduced. Port elements of profiles a change
//     retires are not deleted in its batch (a delete from the interval map costs the map's size
//     in libnftables, ~20 ms at 5k pods, and ~0.7 ms per element in the kernel's pipapo at 50k)
//     but after a quiet period, in one cleanup batch
//     (deferred-port-deletes.ts: no pair reaches them meanwhile); any full replace drops them.
//   restart -> the persisted last good vs what the kernel lists: adopt it when equal (counters
//     survive), full replace when not.
//   node-local tables (nodeName set): decisions only for the identities of this node's pods
//     (ClusterState.localPods: spec.nodeName = nodeName, plus every pod with an endpoint here);
//     egress is judged at the source's node and ingress at the destination's, so the protected
//     end is always local. The ip -> identity maps stay cluster-wide. When the local set changes
//     (endpoint added/removed, a pod scheduled here or moved away) the one-pod path takes the new
//     scope for the pods it names (updateMembership adds or drops their subjects' rows); a
//     local set that changed otherwise is recomputed with the new scope and the diff applied.
//     A subject the node loses lingers (lingerSubjects, default on): its row stays, so the
//     change and the identity's return cost only address elements; a background GC drops one
//     lingering row per step on the queue after lingerQuietMs, at once past maxLingering; a
//     full replace starts without them, close() drops them (the restart adopts the table).
//     Without nodeName: cluster-wide, as before.
//
// Every kernel change is serialized through one queue, so the model always equals the kernel
// as far as our own batches go. Readiness (CNI STATUS/ADD) stays false until a policy is loaded
// when requirePolicy is on (the default: fail closed).
import { computeMembership, diffSize, membershipDiff, type Membership, type MembershipDiff, type MembershipScope } from '../../compiler/emit/membership.js';
import { renderElementDiff } from '../../compiler/emit/nftables/ruleset.js';
import type { NftDocument } from '../../compiler/emit/nftables/schema.js';
import type { Cluster } from '../../compiler/model/cluster.js';
import { batchElements, diffDocument, elementCommands, fullReplaceDocument } from './apply.js';
import { parseArtifact, type LoadedArtifact } from './artifact.js';
import { elementTarget } from './element-batch.js';
import { ArtifactDirSource } from './artifact-source.js';
import { ClusterState, type ClusterChange, type EndpointLike } from './cluster-state.js';
import { updatePods, type PodsUpdate } from './incremental.js';
import { elementsOfCommands, elementsOfListing, mapTypes, rulesFingerprint, sameElements, type KernelModel } from './kernel-model.js';
import { Histogram, renderMetrics, ruleCounters, ruleCountersOfRows } from './metrics.js';
import { RecentDrops, type DropSample, type DropSampleSource } from './nflog.js';
import { describeNetns, netnsTarget, NftRunner } from './nft-exec.js';
import type { CounterRow } from './rule-counters.js';
import { PolicyStore, type LastGood } from './persist.js';
import { ConntrackFlusher, type ApplyEvent } from './conntrack-flush.js';
import { CLEANUP_AT, DeferredPortDeletes } from './deferred-port-deletes.js';
import { ReconcileWorker } from './reconcile-worker.js';
import { ClusterPersister } from './cluster-persist.js';

export interface EndpointSource {
  live(): EndpointLike[];
  on(event: 'add' | 'remove', listener: (ep: EndpointLike) => void): unknown;
  off(event: 'add' | 'remove', listener: (ep: EndpointLike) => void): unknown;
}

export interface EngineOptions {
  stateDir: string;
  /** the node netns (name or path) the table lives in; unset = the daemon's own */
  netns?: string;
  artifactsDir?: string;
  /** Not ready (CNI STATUS 50, ADD 11) until a policy is loaded. Default true. */
  requirePolicy?: boolean;
  setReady(ready: boolean): void;
  endpoints?: EndpointSource;
  log(msg: string): void;
  /**
   * Quiet period before the reconcile pass after one-pod changes; 0 = never. Default 5000 ms.
   * The reconcile is a full computation (28 ms node-local, 74 ms cluster-wide at 5k pods / 1k
   * policies); in-thread (reconcileInWorker false) a change arriving while it runs waits for it,
   * with the worker only the comparison of its result runs here, in ~2 ms slices
   * (bench/daemon-apply.ts --reconcile-churn; README "Reconcile").
   */
  reconcileDelayMs?: number;
  /** Under changes that never leave a quiet period, the reconcile runs at the latest this long after the first change it has not covered. Default 60000 ms. */
  reconcileMaxDelayMs?: number;
  /**
   * Run the reconcile's full computation in a worker thread (reconcile-worker.ts), the event loop
   * only comparing its result; false = on the event loop, as before. Default true.
   */
  reconcileInWorker?: boolean;
  /**
   * Quiet period before the port elements of retired profiles are deleted from the kernel
   * (deferred-port-deletes.ts: such deletes cost the size of the interval map, ~20 ms at 5k
   * pods); 0 = delete them in the change's own batch. Default: reconcileDelayMs (5000 ms).
   */
  portCleanupDelayMs?: number;
  /** how long incremental cluster changes wait before being persisted. Default 200 ms. */
  persistDelayMs?: number;
  /**
   * Let the reconcile worker thread write the persisted cluster state from its replica
   * (cluster-persist.ts), off the event loop; false = serialize and write on the event loop, as
   * before (25-35 ms at 20k pods). Needs reconcileInWorker. Default true.
   */
  persistInWorker?: boolean;
  dirPollMs?: number;
  /** policyc-nft path, or false to run `nft` per batch; default: the built helper if present */
  nftHelper?: string | false;
  /** optional NFLOG reader (see nflog.ts) */
  dropSamples?: DropSampleSource;
  /**
   * This node's name (Kubernetes spec.nodeName): compute node-local tables, decisions only for
   * the pods placed on it and the pods with an endpoint here. Unset = cluster-wide decisions.
   */
  nodeName?: string;
  /**
   * After a change, delete the conntrack entries of established flows the new policy denies
   * (conntrack-flush.ts; policyc-conntrack, ctnetlink in the node netns). Default true.
   */
  flushDeniedFlows?: boolean;
  /** policyc-conntrack path for the flush; default: the built helper (locateNative) */
  conntrackHelperPath?: string;
  /**
   * Node-local tables: a subject identity the node loses (its last local pod deleted, moved or
   * relabelled away) keeps its decision row for a while ("lingers", compiler/emit membership.ts
   * MembershipScope.lingering), so the change costs only address elements, and so does the
   * identity's return (a rolling update). Lingering rows are dropped one subject per step on the
   * queue by a background GC (lingerQuietMs, maxLingering). false = drop the row at once, as
   * before. Default true.
   */
  lingerSubjects?: boolean;
  /** How long a subject lingers before the GC drops its row. Default 30000 ms. */
  lingerQuietMs?: number;
  /** At most this many lingering subjects: past it the oldest are dropped at once (one per step). Default 64. */
  maxLingering?: number;
}

export interface ApplyReport {
  kind: 'full' | 'diff' | 'none';
  /** elements in the batch sent */
  elements: number;
  durationMs: number;
  artifactHash?: string;
  /** why the one-pod or diff path was not taken */
  fallback?: string;
}

export class PolicyRefused extends Error {}

interface ErrorRecord {
  reason: string;
  message: string;
  at: Date;
}

function short(hash: string | undefined): string {
  return hash ? hash.slice(0, 12) : 'none';
}

/** Whether a membership computed with scope `a` holds exactly the rows `b` asks for. */
function sameScope(a: MembershipScope | undefined, b: MembershipScope): boolean {
  const x = a?.localPods;
  const y = b.localPods;
  // the one-pod path passes the model's own scope: no walk over the local pods (and no iterator garbage) per change
  if (x === y) return true;
  if (!x || !y) return !x && !y;
  if (x.size !== y.size) return false;
  for (const p of x) if (!y.has(p)) return false;
  return true;
}

function stderrLine(s: string): string {
  return s.trim().split('\n').filter(Boolean).slice(0, 3).join(' | ');
}

export class PolicyEngine {
  private readonly nft: NftRunner;
  /** established flows a change denies (conntrack-flush.ts); undefined when turned off */
  private readonly flusher?: ConntrackFlusher;
  private state: ClusterState;
  private artifact?: LoadedArtifact;
  private model?: KernelModel;
  /** the model's membership may not match the kernel (a batch failed): next change is a full replace */
  private stale = false;
  private queue: Promise<unknown> = Promise.resolve();
  private ready: boolean;
  private lastError?: ErrorRecord;
  private lastApply?: ApplyReport & { at: Date };
  /**
   * The last quiet-period reconcile: its wall time, the main-thread time it took (blockedMs: all
   * of durationMs in-thread; with the worker, posting and comparing) and the longest part of it
   * without a yield to the event loop (maxSliceMs), and where it ran.
   */
  private lastReconcile?: { durationMs: number; blockedMs: number; maxSliceMs: number; where: 'worker' | 'in-thread'; at: Date };
  /** the reconcile's worker thread (undefined: reconcileInWorker false) */
  private readonly reconciler?: ReconcileWorker;
  /** the reconcile running with the worker, and the one asked for meanwhile (reconcile()) */
  private reconcileRunning?: Promise<ApplyReport>;
  private reconcileNext?: Promise<ApplyReport>;
  /** when the first one-pod change the reconcile has not covered yet was applied (Date.now()) */
  private unreconciledSince?: number;
  private lastGoodMeta?: { source: string; dirHash?: string };
  private dirSource?: ArtifactDirSource;
  private reconcileTimer?: NodeJS.Timeout;
  /** port elements of retired profiles the kernel still holds (deferred-port-deletes.ts) */
  private readonly heldPorts = new DeferredPortDeletes();
  /** lingering subject key -> when it started lingering (Date.now()): the model's scope.lingering, with times (lingerGc) */
  private readonly lingerSince = new Map<string, number>();
  private lingerTimer?: NodeJS.Timeout;
  private lingerGcQueued = false;
  /** lingering rows dropped by the GC (status.counts.scope.lingerDropped) */
  private lingerDropped = 0;
  private cleanupQueued = false;
  private cleanupTimer?: NodeJS.Timeout;
  /** writes cluster-state.json, from the worker's replica when it can (cluster-persist.ts) */
  private readonly persister: ClusterPersister;
  private closed = false;
  private snapshotNoticeLogged = false;
  private readonly durations = new Map<'full' | 'diff', Histogram>([
    ['full', new Histogram()],
    ['diff', new Histogram()],
  ]);
  private readonly applies = new Map<'full' | 'diff', number>([
    ['full', 0],
    ['diff', 0],
  ]);
  private readonly errors = new Map<string, number>();
  private readonly sampleListeners = new Set<(s: DropSample) => void>();
  private stopSamples?: () => Promise<void>;
  /** the last 100 drop samples (status.recentDrops) and per-rule totals (metrics) */
  private readonly recentDrops = new RecentDrops(100);
  private readonly onAdd = (ep: EndpointLike) => this.endpointChanged('add', ep);
  private readonly onRemove = (ep: EndpointLike) => this.endpointChanged('remove', ep);

  private constructor(
    private readonly o: EngineOptions,
    private readonly store: PolicyStore,
  ) {
    this.nft = new NftRunner(netnsTarget(o.netns), `${store.dir}/tmp`, { helper: o.nftHelper, log: (m) => this.log(m) });
    if (o.reconcileInWorker ?? true) this.reconciler = new ReconcileWorker({ nodeName: o.nodeName, log: (m) => this.log(m) });
    if (o.flushDeniedFlows ?? true) this.flusher = new ConntrackFlusher({ target: this.nft.target, conntrack: o.conntrackHelperPath, log: (m) => this.log(m) });
    this.state = new ClusterState();
    this.persister = new ClusterPersister({
      store,
      delayMs: o.persistDelayMs ?? 200,
      current: () => ({ state: this.state, assignment: this.model?.membership?.assignment ?? new Map<string, number>() }),
      worker: (o.persistInWorker ?? true) ? this.reconciler : undefined,
      log: (m) => this.log(m),
    });
    this.ready = !(o.requirePolicy ?? true);
    o.setReady(this.ready);
  }

  /** Opens the state, resyncs the kernel with the persisted last good, starts the sources. */
  static async start(o: EngineOptions): Promise<PolicyEngine> {
    const store = await PolicyStore.open(o.stateDir);
    const engine = new PolicyEngine(o, store);
    if (engine.nft.mode === 'exec') engine.log('dataplane/policy/helper/bin/policyc-nft is not built (bash dataplane/policy/helper/build.sh); running nft per batch');
    if (o.nodeName) engine.log(`node-local tables for node ${o.nodeName}: decisions for its pods and its endpoints' pods only`);
    await engine.restore();
    if (o.endpoints) {
      o.endpoints.on('add', engine.onAdd);
      o.endpoints.on('remove', engine.onRemove);
    }
    if (o.artifactsDir) {
      engine.dirSource = new ArtifactDirSource({
        dir: o.artifactsDir,
        lastSeen: engine.lastGoodMeta?.dirHash,
        pollMs: o.dirPollMs,
        log: o.log,
        onArtifact: async (files, hash) => {
          try {
            await engine.loadArtifact(files, `dir ${o.artifactsDir}`, hash);
          } catch {
            // refused: already logged and recorded
          }
        },
      });
      await engine.dirSource.start();
    }
    if (o.dropSamples) {
      const handle = await o.dropSamples.start((s) => {
        engine.recentDrops.add(s);
        for (const l of engine.sampleListeners) l(s);
      });
      engine.stopSamples = () => handle.stop();
    }
    // one long-lived policyc-conntrack inside the node netns serves every flush (conntrack-flush.ts;
    // started here unless a flush during the restore already did; stopped by close())
    engine.flusher?.start();
    return engine;
  }

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private log(msg: string): void {
    this.o.log(`policy: ${msg}`);
  }

  private setReady(r: boolean): void {
    if (this.ready === r) return;
    this.ready = r;
    this.o.setReady(r);
  }

  private recordError(reason: string, message: string): void {
    this.lastError = { reason, message, at: new Date() };
    this.errors.set(reason, (this.errors.get(reason) ?? 0) + 1);
  }

  private observe(kind: 'full' | 'diff', ms: number): void {
    this.durations.get(kind)!.observe(ms / 1000);
    this.applies.set(kind, this.applies.get(kind)! + 1);
  }

  // ---- restart

  private async restore(): Promise<void> {
    const cl = this.store.readCluster();
    if (cl.error) this.log(`ignoring persisted cluster state: ${cl.error}`);
    let assignment: Map<string, number> | undefined;
    if (cl.value) {
      this.state = ClusterState.restore(cl.value.state);
      assignment = new Map(cl.value.assignment);
    }
    if (this.o.endpoints) this.state.setEndpoints(this.o.endpoints.live());
    const lg = this.store.readLastGood();
    if (lg.error) this.log(`ignoring persisted last good: ${lg.error}`);
    if (!lg.value) return;
    const parsed = parseArtifact(lg.value.files);
    if (!parsed.ok) {
      this.log(`ignoring persisted last good ${short(lg.value.artifactHash)}: ${parsed.reason}`);
      return;
    }
    this.lastGoodMeta = { source: lg.value.source, dirHash: lg.value.dirHash };
    const artifact = parsed.artifact;
    const membership = this.membershipFor(artifact, assignment);
    const why = await this.differsFromKernel(artifact, membership, lg.value).catch((err: Error) => `cannot read the kernel table (${err.message})`);
    if (!why) {
      this.artifact = artifact;
      this.model = { table: artifact.table, artifactHash: artifact.hash, membership, generation: this.state.generation, loadedAt: new Date(lg.value.appliedAt), rulesFingerprint: lg.value.rulesFingerprint };
      this.log(`resync: ${describeNetns(this.nft.target)} already holds the last good artifact ${short(artifact.hash)}; kept as is`);
      // as after a full replace: the worker's one-time copies at start-up, so the persists of the
      // first changes already leave the event loop (cluster-persist.ts)
      if (membership && (this.o.reconcileDelayMs ?? 5000) > 0) this.reconciler?.prepare(this.state, artifact);
      this.setReady(true);
      return;
    }
    this.log(`resync: ${why}; reloading the last good artifact ${short(artifact.hash)}`);
    try {
      await this.fullReplace(artifact, membership, lg.value.source, 'resync');
    } catch (err) {
      this.log(`resync failed: ${(err as Error).message}`);
    }
  }

  /** Why the kernel does not hold exactly this artifact + membership; undefined when it does. */
  private async differsFromKernel(artifact: LoadedArtifact, membership: Membership | undefined, lg: LastGood): Promise<string | undefined> {
    const terse = await this.nft.listTable(artifact.table, true);
    if (!terse) return `table inet ${artifact.table} is not loaded`;
    if (!lg.rulesFingerprint || rulesFingerprint(terse) !== lg.rulesFingerprint) return 'the loaded rules differ from the last good';
    const full = await this.nft.listTable(artifact.table, false);
    if (!full) return `table inet ${artifact.table} vanished`;
    const expected = elementsOfCommands(mapTypes(artifact.skeleton as unknown as Array<Record<string, any>>), elementCommands(artifact, membership));
    const cmp = sameElements(elementsOfListing(full), expected);
    return cmp.same ? undefined : `the loaded elements differ (${cmp.detail})`;
  }

  /** Membership from the cluster state; undefined = use the artifact's snapshot elements. */
  private membershipFor(artifact: LoadedArtifact, previous?: Membership | ReadonlyMap<string, number>): Membership | undefined {
    if (!this.state.pushed && artifact.withSnapshot) return undefined;
    return computeMembership(artifact.program, this.state.cluster(), previous, this.scope());
  }

  /** The membership scope now: node-local when a node name is set, else cluster-wide ({}). No lingering subjects (a full replace starts without them). */
  private scope(): MembershipScope {
    const localPods = this.state.localPods(this.o.nodeName);
    return localPods ? { localPods } : {};
  }

  private lingers(): boolean {
    return this.o.nodeName !== undefined && (this.o.lingerSubjects ?? true);
  }

  /**
   * `scope` with the model's lingering subjects kept (and, with `depart`, the subjects the change
   * loses lingering too): what every diff of a node-local table computes with, so that the rows
   * the kernel holds stay exactly those of the model's scope. The model's own scope when it
   * already says so (the one-pod path's common case: no new object per change).
   */
  private lingerScope(scope: MembershipScope, model: Membership, depart: boolean): MembershipScope {
    if (!scope.localPods || !this.lingers()) return scope;
    const lingering = model.scope?.lingering;
    if (scope === model.scope && scope.lingerDeparted === depart) return scope;
    return { localPods: scope.localPods, ...(lingering ? { lingering } : {}), ...(depart ? { lingerDeparted: true } : {}) };
  }

  // ---- artifacts

  /** Verifies, applies (full replace) and persists an artifact; throws PolicyRefused when refused. */
  loadArtifact(files: ReadonlyMap<string, string> | Record<string, string>, source: string, dirHash?: string): Promise<ApplyReport> {
    return this.enqueue(async () => {
      const parsed = parseArtifact(files);
      if (!parsed.ok) return this.refuse('invalid-artifact', `refused artifact from ${source}: ${parsed.reason}`);
      const artifact = parsed.artifact;
      if (dirHash !== undefined) this.lastGoodMeta = { source: this.lastGoodMeta?.source ?? source, dirHash };
      if (this.artifact?.hash === artifact.hash && this.model && !this.stale) {
        if (dirHash !== undefined) await this.persistLastGood(this.artifact, this.lastGoodMeta!.source);
        return { kind: 'none' as const, elements: 0, durationMs: 0, artifactHash: artifact.hash };
      }
      const t0 = performance.now();
      const membership = this.membershipFor(artifact, this.model?.membership);
      return this.fullReplace(artifact, membership, source, 'artifact', t0);
    });
  }

  private refuse(reason: string, message: string): never {
    const keeping = this.artifact ? `the last good artifact ${short(this.artifact.hash)} stays loaded` : 'no policy is loaded';
    this.recordError(reason, message);
    this.log(`${message}; ${keeping}`);
    throw new PolicyRefused(`${message}; ${keeping}`);
  }

  private async fullReplace(artifact: LoadedArtifact, membership: Membership | undefined, source: string, why: string, t0 = performance.now(), fallback?: string): Promise<ApplyReport> {
    const doc = fullReplaceDocument(artifact, membership, this.model?.table);
    const r = await this.nft.apply(JSON.stringify(doc));
    if (!r.ok) {
      // nft refused the whole batch: the kernel still holds what it held
      if (why !== 'artifact') this.stale = true;
      return this.refuse(why === 'artifact' ? 'kernel-refused' : 'full-replace-failed', `${why === 'artifact' ? `refused artifact ${short(artifact.hash)} from ${source}` : `full replace (${why}) failed`}: nft rejected the batch: ${stderrLine(r.stderr)}`);
    }
    const durationMs = performance.now() - t0;
    let fingerprint: string | undefined;
    try {
      // in a separate nft process: a listing fetches every set element, and the helper would
      // keep them cached for its next element batch to free first (~80 ms at 100,000 elements)
      const terse = await this.nft.listTableApart(artifact.table);
      fingerprint = terse ? rulesFingerprint(terse) : undefined;
    } catch (err) {
      this.log(`cannot fingerprint the loaded rules: ${(err as Error).message}`);
    }
    const changedArtifact = this.artifact?.hash !== artifact.hash;
    this.artifact = artifact;
    this.model = { table: artifact.table, artifactHash: artifact.hash, membership, generation: this.state.generation, loadedAt: new Date(), rulesFingerprint: fingerprint };
    this.stale = false;
    this.heldPorts.clear(); // the table was replaced whole
    this.lingerChanged(); // a full replace computes without lingering subjects (scope())
    this.observe('full', durationMs);
    const report: ApplyReport = { kind: 'full', elements: batchElements(doc), durationMs, artifactHash: artifact.hash, ...(fallback ? { fallback } : {}) };
    this.lastApply = { ...report, at: new Date() };
    if (changedArtifact || why === 'resync') this.log(`loaded artifact ${short(artifact.hash)} from ${source} (${why}): ${artifact.program.policies.length} policies, ${report.elements} elements, ${durationMs.toFixed(1)} ms`);
    await this.persistLastGood(artifact, source);
    // the reconcile worker's one-time copies (artifact, whole state) ride on this full computation
    // rather than on the first reconcile; first, so that this persist is the worker's already
    if (membership && (this.o.reconcileDelayMs ?? 5000) > 0) this.reconciler?.prepare(this.state, artifact);
    if (membership) this.persister.now();
    this.setReady(true);
    this.flushDenied({ kind: 'full' });
    return report;
  }

  private async persistLastGood(artifact: LoadedArtifact, source: string): Promise<void> {
    this.lastGoodMeta = { source, dirHash: this.lastGoodMeta?.dirHash };
    await this.store.writeLastGood({
      formatVersion: 1,
      artifactHash: artifact.hash,
      files: artifact.files,
      appliedAt: (this.model?.loadedAt ?? new Date()).toISOString(),
      source,
      rulesFingerprint: this.model?.rulesFingerprint,
      dirHash: this.lastGoodMeta.dirHash,
    });
  }

  // ---- cluster state and endpoints

  /** Applies a 'cluster-state' body (whole or upsert/delete) and syncs the kernel. */
  pushClusterState(body: unknown): Promise<ApplyReport> {
    return this.enqueue(async () => {
      let change: ClusterChange;
      try {
        change = this.state.apply(body);
      } catch (err) {
        this.recordError('bad-cluster-state', (err as Error).message);
        throw err;
      }
      // the reconcile worker's replica follows (a whole state is resent at its next check)
      if (change.full) this.reconciler?.replaced(this.state);
      else this.reconciler?.changed({ kind: 'apply', body, generation: this.state.generation });
      const report = await this.sync(change);
      if (change.full) this.persister.now();
      else this.persister.soon();
      return report;
    });
  }

  private endpointChanged(kind: 'add' | 'remove', ep: EndpointLike): void {
    if (this.closed) return;
    void this.enqueue(async () => {
      const pod = kind === 'add' ? this.state.addEndpoint(ep) : this.state.removeEndpoint(ep);
      this.reconciler?.changed({ kind: kind === 'add' ? 'add-endpoint' : 'remove-endpoint', endpoint: ep, generation: this.state.generation });
      await this.sync({ full: false, pods: pod ? [pod] : [], namespaces: [], nodes: [] });
    }).catch((err: Error) => this.log(`endpoint ${kind} ${ep.namespace}/${ep.podName}: ${err.message}`));
  }

  /** Brings the kernel to the current cluster state (called inside the queue). */
  private async sync(change: ClusterChange, reconcile = false): Promise<ApplyReport> {
    const artifact = this.artifact;
    const model = this.model;
    if (!artifact || !model) return { kind: 'none', elements: 0, durationMs: 0 };
    const t0 = performance.now();
    const program = artifact.program;
    if (!model.membership && !this.stale && !this.state.pushed && artifact.withSnapshot) {
      // the artifact's snapshot elements stay until a cluster state arrives to compute from
      if (!this.snapshotNoticeLogged) this.log('endpoint changes are not applied while the elements come from the artifact snapshot; push a cluster-state');
      this.snapshotNoticeLogged = true;
      return { kind: 'none', elements: 0, durationMs: 0, artifactHash: artifact.hash };
    }
    if (this.stale || !model.membership) {
      return this.fullReplace(artifact, this.membershipFor(artifact, model.membership), 'cluster state', this.stale ? 'after a failed batch' : 'first cluster state', t0);
    }
    let fallback: string | undefined;
    // A relabel right after the model's generation that keeps every pod on its node keeps the
    // local pods (labels never decide them): the model's scope, without a pass over every pod
    // (localPods: 0.2-2 ms at 5k pods, most of it when the daemon was idle).
    const sameNodes = change.relabeled !== undefined && model.generation === this.state.generation - 1 && change.relabeled.every(({ before, after }) => before.node === after.node);
    const base = sameNodes && (model.membership.scope?.localPods !== undefined) === (this.o.nodeName !== undefined) ? (model.membership.scope ?? {}) : this.scope();
    // node-local with lingering subjects: the model's lingering rows stay, and the subjects this
    // change loses linger (not in a reconcile: it checks the model against a fresh computation
    // with the model's own lingering set, as the worker does)
    const scope = this.lingerScope(base, model.membership, !reconcile);
    const scopeChanged = !sameScope(model.membership.scope, scope);
    // the one-pod path: labels/ports of pods that keep their addresses (relabeled), or pods that
    // appear, vanish or change addresses (an upsert or delete of pods only, a CNI ADD/DEL):
    // updateMembership carves or frees their addresses, exactly, or computes in full itself
    const behind = model.generation !== this.state.generation - 1;
    const podsOnly = !change.full && change.relabeled === undefined && change.pods.length > 0 && change.namespaces.length === 0 && change.nodes.length === 0;
    let names: string[] | undefined;
    if (change.relabeled) {
      if (scopeChanged) fallback = 'the node-local pods changed';
      else if (behind) fallback = 'the model is behind the cluster state';
      else names = change.relabeled.map(({ after }) => `${after.namespace}/${after.name}`);
    } else if (podsOnly && !behind) names = change.pods;
    if (names) {
      let u: PodsUpdate | undefined;
      try {
        u = updatePods(program, this.state.cluster(), model.membership, names, scope);
      } catch (err) {
        fallback = `one-pod update failed: ${(err as Error).message}`;
      }
      if (u) {
        const report = await this.applyDiff(artifact, u.membership, u.diff, t0);
        this.scheduleReconcile();
        return u.reason ? { ...report, fallback: u.reason } : report;
      }
    }
    const next = computeMembership(program, this.state.cluster(), model.membership, scope);
    const diff = membershipDiff(model.membership, next);
    if (reconcile && diffSize(diff) > 0) this.log(`reconcile: ${diffSize(diff)} elements differed from a full computation; correcting`);
    const report = await this.applyDiff(artifact, next, diff, t0);
    return fallback ? { ...report, fallback } : report;
  }

  private async applyDiff(artifact: LoadedArtifact, next: Membership, diff: MembershipDiff, t0: number): Promise<ApplyReport> {
    const model = this.model!;
    if (diffSize(diff) === 0) {
      model.membership = next;
      model.generation = this.state.generation;
      this.lingerChanged();
      return { kind: 'none', elements: 0, durationMs: performance.now() - t0, artifactHash: artifact.hash };
    }
    // port elements of retired profiles stay in the kernel until the cleanup (deferred-port-deletes.ts)
    const plan = this.cleanupDelay() > 0 ? this.heldPorts.plan(diff) : { send: diff, held: new Map() };
    const send = plan.send;
    let doc: NftDocument = diffDocument(send, artifact.table);
    // batches on hash and pipapo maps go over nfnetlink, without libnftables' cache fetch (element-batch.ts)
    let r = diffSize(send) === 0 ? { ok: true, code: 0, stdout: '', stderr: '' } : await this.nft.applyElements(doc, elementTarget(artifact.skeleton));
    if (!r.ok && send.ports.delete.length > 0) {
      // nft 1.0.6 deletes some concatenated interval elements only in the form they were
      // added in (see apply.ts fixConcatDeletes): one more try with the deletes as rendered
      doc = renderElementDiff(send, { table: artifact.table });
      r = await this.nft.apply(JSON.stringify(doc));
    }
    if (!r.ok) {
      // the kernel does not hold what the model says (or refused the change): one full replace
      const msg = `element diff of ${diffSize(send)} refused (${stderrLine(r.stderr)}); falling back to a full replace`;
      this.recordError('diff-refused', msg);
      this.log(msg);
      return this.fullReplace(artifact, next, 'cluster state', 'diff fallback', t0, msg);
    }
    this.heldPorts.commit(plan);
    if (this.heldPorts.size > CLEANUP_AT) this.queueCleanup();
    else if (this.heldPorts.size > 0) this.scheduleCleanup();
    const durationMs = performance.now() - t0;
    model.membership = next;
    model.generation = this.state.generation;
    this.lingerChanged();
    this.observe('diff', durationMs);
    const report: ApplyReport = { kind: 'diff', elements: batchElements(doc), durationMs, artifactHash: artifact.hash };
    this.lastApply = { ...report, at: new Date() };
    this.flushDenied({ kind: 'diff', diff, next });
    return report;
  }

  /** Queues a flush of the established flows the loaded policy denies (conntrack-flush.ts). */
  private flushDenied(event: ApplyEvent): void {
    this.flusher?.afterApply(event, {
      enqueue: (op) => this.enqueue(op),
      current: () => (this.artifact && this.model && !this.stale ? { artifact: this.artifact, membership: this.model.membership } : undefined),
    });
  }

  private scheduleReconcile(): void {
    const delay = this.o.reconcileDelayMs ?? 5000;
    if (delay <= 0 || this.closed) return;
    const now = Date.now();
    this.unreconciledSince ??= now;
    const at = Math.min(now + delay, this.unreconciledSince + (this.o.reconcileMaxDelayMs ?? 60000));
    clearTimeout(this.reconcileTimer);
    this.reconcileTimer = setTimeout(
      () => {
        void this.reconcile().catch((err: Error) => this.log(`reconcile: ${err.message}`));
      },
      Math.max(0, at - now),
    );
    this.reconcileTimer.unref();
  }

  /**
   * Recomputes the membership from scratch and applies any difference (normally none). With the
   * worker (reconcile-worker.ts): the model at the current generation is checked against the
   * worker's computation outside the queue, so changes go on meanwhile; same = done, anything
   * else (different, worker unavailable) = the in-thread reconcile below.
   */
  reconcile(): Promise<ApplyReport> {
    const reconciler = this.reconciler;
    if (!reconciler) return this.reconcileInThread();
    // One check at a time; calls while one runs share the next one, started after it (a check
    // takes ~2 s at 20k pods / 4k policies cluster-wide: queued ones would pile up under churn).
    if (this.reconcileRunning) {
      const after = this.reconcileRunning.then(
        () => undefined,
        () => undefined,
      );
      return (this.reconcileNext ??= after.then(() => {
        this.reconcileNext = undefined;
        return this.reconcile();
      }));
    }
    const run = this.reconcileWithWorker(reconciler).finally(() => {
      if (this.reconcileRunning === run) this.reconcileRunning = undefined;
    });
    this.reconcileRunning = run;
    return run;
  }

  private async reconcileWithWorker(reconciler: ReconcileWorker): Promise<ApplyReport> {
    const t0 = performance.now();
    const started = await this.enqueue(async () => {
      this.unreconciledSince = undefined;
      const artifact = this.artifact;
      const membership = this.model?.membership;
      // nothing the worker can check (no model, snapshot elements, a failed batch, the model behind): the in-thread path knows what to do
      if (!artifact || !membership || this.stale || this.model!.generation !== this.state.generation) return undefined;
      return { artifact, check: reconciler.check(this.state, artifact, membership) };
    });
    if (!started) return this.reconcileInThread();
    const { verdict, blockedMs, maxSliceMs } = await started.check;
    if (verdict.kind === 'same') {
      this.lastReconcile = { durationMs: performance.now() - t0, blockedMs, maxSliceMs, where: 'worker', at: new Date() };
      return { kind: 'none', elements: 0, durationMs: performance.now() - t0, artifactHash: started.artifact.hash };
    }
    if (this.closed) return { kind: 'none', elements: 0, durationMs: performance.now() - t0 };
    this.log(`reconcile: ${verdict.kind === 'different' ? `the worker's full computation differs (${verdict.reason})` : `worker unavailable (${verdict.reason})`}; reconciling in-thread`);
    return this.reconcileInThread();
  }

  /** The reconcile on the event loop, inside the queue: full computation, diff, apply. */
  private reconcileInThread(): Promise<ApplyReport> {
    return this.enqueue(async () => {
      const t0 = performance.now();
      this.unreconciledSince = undefined;
      const report = await this.sync({ full: false, pods: [], namespaces: [], nodes: [] }, true);
      const durationMs = performance.now() - t0;
      this.lastReconcile = { durationMs, blockedMs: durationMs, maxSliceMs: durationMs, where: 'in-thread', at: new Date() };
      return report;
    });
  }

  private cleanupDelay(): number {
    return this.o.portCleanupDelayMs ?? this.o.reconcileDelayMs ?? 5000;
  }

  /** The cleanup of held-back port elements once changes are quiet for cleanupDelay(). */
  private scheduleCleanup(): void {
    if (this.closed) return;
    clearTimeout(this.cleanupTimer);
    this.cleanupTimer = setTimeout(() => this.queueCleanup(), this.cleanupDelay());
    this.cleanupTimer.unref();
  }

  /** Queues the cleanup now (more than CLEANUP_AT held, or the quiet period is over). */
  private queueCleanup(): void {
    clearTimeout(this.cleanupTimer);
    if (this.cleanupQueued || this.closed) return;
    this.cleanupQueued = true;
    void this.enqueue(() => this.cleanupHeldPorts())
      .catch((err: Error) => this.log(`port element cleanup: ${err.message}`))
      .finally(() => {
        this.cleanupQueued = false;
      });
  }

  /** One batch deleting the port elements of retired profiles (called inside the queue). */
  private async cleanupHeldPorts(): Promise<void> {
    const diff = this.heldPorts.cleanup();
    const artifact = this.artifact;
    const membership = this.model?.membership;
    if (!diff || !artifact || !membership || this.stale) return;
    let r = await this.nft.applyElements(diffDocument(diff, artifact.table), elementTarget(artifact.skeleton));
    // nft 1.0.6: some interval deletes only work in the form they were added in (applyDiff)
    if (!r.ok) r = await this.nft.apply(JSON.stringify(renderElementDiff(diff, { table: artifact.table })));
    if (r.ok) {
      this.heldPorts.clear();
      return;
    }
    const msg = `deleting ${diffSize(diff)} port elements of retired profiles refused (${stderrLine(r.stderr)}); falling back to a full replace`;
    this.recordError('diff-refused', msg);
    this.log(msg);
    await this.fullReplace(artifact, membership, 'cluster state', 'cleanup fallback');
  }

  // ---- lingering subjects (node-local tables)

  /**
   * The model's lingering keys changed (or may have): record when new ones started lingering,
   * forget those that left (came back as local subjects, vanished, dropped), and schedule the GC.
   */
  private lingerChanged(): void {
    const lingering = this.model?.membership?.scope?.lingering;
    const now = Date.now();
    for (const key of this.lingerSince.keys()) if (!lingering?.has(key)) this.lingerSince.delete(key);
    for (const key of lingering ?? []) if (!this.lingerSince.has(key)) this.lingerSince.set(key, now);
    this.scheduleLingerGc();
  }

  /**
   * The GC's next step: at once past maxLingering, else when the oldest lingering subject's
   * quiet period ends; `retryMs` after a step that could not run (the model behind the state or
   * stale: the next change's sync or full replace settles that first).
   */
  private scheduleLingerGc(retryMs = 0): void {
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    if (this.closed || this.lingerSince.size === 0 || this.lingerGcQueued) return;
    const quiet = this.lingerQuietMs();
    const over = this.lingerSince.size > this.maxLingering();
    const oldest = Math.min(...this.lingerSince.values());
    const delay = Math.max(retryMs, over ? 0 : oldest + quiet - Date.now());
    this.lingerTimer = setTimeout(() => this.queueLingerGc(), delay);
    this.lingerTimer.unref();
  }

  /** EngineOptions.lingerQuietMs and maxLingering with their defaults (30 s, 64). */
  private lingerQuietMs(): number {
    return this.o.lingerQuietMs ?? 30_000;
  }

  private maxLingering(): number {
    return this.o.maxLingering ?? 64;
  }

  private queueLingerGc(): void {
    if (this.lingerGcQueued || this.closed) return;
    this.lingerGcQueued = true;
    let ran = false;
    void this.enqueue(async () => (ran = await this.lingerGcStep()))
      .catch((err: Error) => this.log(`lingering subjects: ${err.message}`))
      .finally(() => {
        this.lingerGcQueued = false;
        this.scheduleLingerGc(ran ? 0 : 1000);
      });
  }

  /**
   * One GC step (inside the queue): the row of one lingering subject leaves, through the normal
   * diff path (updateMembership with that key out of the scope's lingering set, no pod named),
   * so a one-pod change queued behind waits for one row's deletes at most. `all`: every
   * lingering row at once (close(): the persisted state does not know them).
   */
  private async lingerGcStep(all = false): Promise<boolean> {
    const artifact = this.artifact;
    const model = this.model;
    const m = model?.membership;
    const lingering = m?.scope?.lingering;
    if (!artifact || !model || !m || !lingering || lingering.size === 0) return true;
    // stale, or the model behind the state: the next change's sync or full replace settles that first
    if (this.stale || model.generation !== this.state.generation) return false;
    const quiet = this.lingerQuietMs();
    const over = lingering.size > this.maxLingering();
    let drop: string[];
    if (all) drop = [...lingering];
    else {
      let oldest: string | undefined;
      let since = Infinity;
      for (const key of lingering) {
        const t = this.lingerSince.get(key) ?? 0;
        if (t < since) [oldest, since] = [key, t];
      }
      if (oldest === undefined || (!over && since + quiet > Date.now())) return true;
      drop = [oldest];
    }
    const keep = new Set([...lingering].filter((k) => !drop.includes(k)));
    const t0 = performance.now();
    const scope: MembershipScope = { localPods: m.scope!.localPods, ...(keep.size > 0 ? { lingering: keep } : {}), lingerDeparted: true };
    let u: PodsUpdate;
    try {
      u = updatePods(artifact.program, this.state.cluster(), m, [], scope);
    } catch (err) {
      this.log(`lingering subjects: dropping ${drop.length} row(s) failed (${(err as Error).message}); full computation`);
      const next = computeMembership(artifact.program, this.state.cluster(), m, scope);
      u = { membership: next, diff: membershipDiff(m, next) };
    }
    this.lingerDropped += drop.length;
    await this.applyDiff(artifact, u.membership, u.diff, t0);
    return true;
  }

  // ---- status and metrics

  /** Subscribes to drop samples from the NFLOG reader, if one is configured. */
  onDropSample(listener: (s: DropSample) => void): () => void {
    this.sampleListeners.add(listener);
    return () => this.sampleListeners.delete(listener);
  }

  private setElements(): number {
    const m = this.model?.membership;
    if (m) return m.identityElements.length * 2 + m.decisionElements.length + m.isolated.egress.length + m.isolated.ingress.length;
    if (this.model && this.artifact) return batchElements({ nftables: this.artifact.snapshotElements });
    return 0;
  }

  status(): Record<string, unknown> {
    const a = this.artifact;
    const m = this.model;
    const c = this.state.counts();
    return {
      ready: this.ready,
      requirePolicy: this.o.requirePolicy ?? true,
      netns: describeNetns(this.nft.target),
      nft: this.nft.mode,
      // element batches sent over nfnetlink (hash and pipapo maps) and through libnftables/nft
      nftElementBatches: { ...this.nft.elementBatches },
      artifact: a && m ? { hash: a.hash, source: this.lastGoodMeta?.source, loadedAt: m.loadedAt.toISOString(), table: a.table, withSnapshot: a.withSnapshot } : null,
      counts: {
        policies: a?.program.policies.length ?? 0,
        rules: a?.program.rules.length ?? 0,
        groups: a?.program.groups.length ?? 0,
        identities: m?.membership?.identities.identities.length ?? 0,
        setElements: this.setElements(),
        // node: null = cluster-wide decisions; localPods: how many pods the loaded table holds
        // decision rows for (null: the loaded table is cluster-wide, or nothing is loaded)
        // lingering: subjects whose rows the table keeps although no local pod has them (dropped
        // by the GC after lingerQuietMs; lingerDropped: rows it dropped so far)
        scope: {
          node: this.o.nodeName ?? null,
          localPods: m?.membership?.scope?.localPods?.size ?? null,
          lingering: m?.membership?.scope?.localPods ? (m.membership.scope.lingering?.size ?? 0) : null,
          lingerDropped: this.lingerDropped,
        },
      },
      elementsFrom: m ? (m.membership ? 'cluster-state' : 'artifact-snapshot') : null,
      cluster: { pushed: this.state.pushed, generation: this.state.generation, namespaces: c.namespaces, pods: c.pods, nodes: c.nodes },
      endpoints: c.endpoints,
      stale: this.stale,
      // port elements of retired profiles still in the kernel, deleted after a quiet period (deferred-port-deletes.ts)
      heldPortElements: this.heldPorts.size,
      lastReconcile: this.lastReconcile ? { ...this.lastReconcile, at: this.lastReconcile.at.toISOString() } : null,
      reconcileWorker: this.reconciler ? this.reconciler.status() : null,
      // cluster-state.json writes: by the worker thread or on the event loop (cluster-persist.ts)
      persist: this.persister.status(),
      lastApply: this.lastApply ? { ...this.lastApply, at: this.lastApply.at.toISOString() } : null,
      applies: Object.fromEntries(this.applies),
      lastError: this.lastError ? { ...this.lastError, at: this.lastError.at.toISOString() } : null,
      recentDrops: this.recentDrops.list(),
      conntrackFlush: this.flusher ? this.flusher.status() : null,
    };
  }

  /** Prometheus text; reads the kernel's per-rule counters. */
  async metrics(): Promise<string> {
    // The rule dump over nfnetlink (no set element fetched, nothing left in libnftables' cache)
    // runs outside the queue, in its own helper process: a read, and a one-pod change sent
    // during a scrape no longer waits for it (27 ms at 5k pods / 1k policies when it queued).
    const dumped = this.artifact;
    let rows: CounterRow[] | undefined;
    let dumpError: string | undefined;
    if (dumped && this.model) {
      try {
        rows = await this.nft.ruleCounters(dumped.table);
      } catch (err) {
        dumpError = (err as Error).message;
      }
    }
    return this.enqueue(async () => {
      let counters;
      let countersError = dumpError;
      if (this.artifact && this.model && !dumpError) {
        try {
          // a terse listing when the helper cannot dump (~0.5 s at 200k elements), in the queue
          const listing = rows ? undefined : await this.nft.listTable(this.artifact.table, true);
          counters = rows ? ruleCountersOfRows(rows, dumped!.rules) : listing ? ruleCounters(listing, this.artifact.rules) : [];
        } catch (err) {
          countersError = (err as Error).message;
        }
      }
      return renderMetrics({
        policies: this.artifact?.program.policies.length ?? 0,
        groups: this.artifact?.program.groups.length ?? 0,
        rules: this.artifact?.program.rules.length ?? 0,
        setElements: this.model ? this.setElements() : 0,
        endpoints: this.state.counts().endpoints,
        ready: this.ready,
        applyDuration: this.durations,
        applies: this.applies,
        applyErrors: this.errors,
        counters,
        countersError,
        dropSamples: this.o.dropSamples ? this.recentDrops.totals : undefined,
        conntrackFlush: this.flusher?.totals,
        helperStarts: { nft: this.nft.helperStarts, conntrack: this.flusher?.helperStarts },
        lastError: this.lastError ? { reason: this.lastError.reason, message: this.lastError.message, at: this.lastError.at } : undefined,
        loadedAt: this.model?.loadedAt,
        artifactHash: this.artifact?.hash,
      });
    });
  }

  /** The effective cluster (for tests and tools). */
  cluster(): Cluster {
    return this.state.cluster();
  }

  /** Resolves when every queued change has reached the kernel. */
  /** Resolves when the queue is empty and no conntrack flush is running (it may queue a delete). */
  async idle(): Promise<void> {
    let q: Promise<unknown>;
    do {
      q = this.queue;
      await q;
      await this.flusher?.settled();
    } while (q !== this.queue);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconcileTimer);
    clearTimeout(this.cleanupTimer);
    clearTimeout(this.lingerTimer);
    if (this.o.endpoints) {
      this.o.endpoints.off('add', this.onAdd);
      this.o.endpoints.off('remove', this.onRemove);
    }
    await this.dirSource?.close();
    await this.stopSamples?.();
    // leave the kernel equal to the persisted state, so a restart adopts it as is
    // (lingering rows too: the persisted state does not know them, and a restart computes without)
    await this.enqueue(() => this.lingerGcStep(true)).catch((err: Error) => this.log(`lingering subjects: ${err.message}`));
    await this.enqueue(() => this.cleanupHeldPorts()).catch((err: Error) => this.log(`port element cleanup: ${err.message}`));
    await this.idle();
    // before the worker stops: its write in flight lands, anything newer is written here
    await this.persister.flush();
    await this.flusher?.close();
    await this.reconciler?.close();
    await this.nft.close();
  }
}
