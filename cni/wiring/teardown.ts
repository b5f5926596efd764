// Kernel teardown of deleted pods, off the DEL path. Deleting a veth costs 15-40 ms here,
// almost all of it waiting for RCU in unregister_netdevice; deleting 30 one by one took
// 536 ms, but moving them into one link group and deleting the group takes ~22 ms: the
// kernel unregisters a group in one batch. So DEL marks the endpoint 'deleting' on disk,
// replies, and this queue drains in batches. Work for the same attachment waits on
// `settled(name)` (an ADD right after DEL for the same pod).
import { ipBatch, type NetnsTarget, runIp } from './netns.js';

/** A link group no one else uses: everything in it is about to be deleted. */
export const TEARDOWN_LINK_GROUP = 28865;
const BATCH_DELAY_MS = 100;

interface Pending {
  hostVeth: string;
  /** runs once the veth is gone, before waiters resume (drops the endpoint record) */
  after?: () => Promise<void>;
  done: () => void;
}

export class TeardownQueue {
  private queued: Pending[] = [];
  private inFlight = new Map<string, Promise<void>>();
  private draining?: Promise<void>;

  constructor(
    private readonly host: NetnsTarget,
    private readonly log: (msg: string) => void,
  ) {}

  /** Queues the veth's deletion; resolves once it is gone and `after` has run. */
  remove(hostVeth: string, after?: () => Promise<void>): Promise<void> {
    const existing = this.inFlight.get(hostVeth);
    if (existing) return existing;
    const gone = new Promise<void>((resolve) => this.queued.push({ hostVeth, after, done: resolve }));
    this.inFlight.set(hostVeth, gone);
    void gone.then(() => this.inFlight.delete(hostVeth));
    this.draining ??= this.drain();
    return gone;
  }

  /** Resolves when the named veth's teardown (if any) has finished. */
  settled(hostVeth: string): Promise<void> {
    return this.inFlight.get(hostVeth) ?? Promise.resolve();
  }

  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    // Wait a moment: DELs arriving meanwhile join one batch. A deletion holds the kernel's
    // rtnl lock for its RCU waits, stalling every ADD on the node; one group delete per
    // window instead of one per DEL keeps that stall rare under churn. (An ADD for the same
    // attachment waits for this via settled(); other pods' IPs are free already.)
    await new Promise((r) => setTimeout(r, BATCH_DELAY_MS));
    while (this.queued.length) {
      const batch = this.queued;
      this.queued = [];
      const started = performance.now();
      // -force: a veth already gone (its netns was deleted) must not stop the others
      await ipBatch(this.host, batch.map((p) => `link set ${p.hostVeth} group ${TEARDOWN_LINK_GROUP}`), true);
      const del = await runIp(this.host, ['link', 'del', 'group', String(TEARDOWN_LINK_GROUP)]);
      if (del.code !== 0 && !/No such device/.test(del.stderr)) this.log(`teardown: ${del.stderr.trim()}`);
      this.log(`teardown: ${batch.length} veth(s) in ${(performance.now() - started).toFixed(1)} ms`);
      for (const p of batch) {
        await p.after?.().catch((err: Error) => this.log(`teardown of ${p.hostVeth}: ${err.message}`));
        p.done();
      }
    }
    this.draining = undefined;
  }
}
