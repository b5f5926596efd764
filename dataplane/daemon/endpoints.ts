// The node's pod endpoints as the CNI plugin created them. The policy side listens to
// 'add'/'remove' to fill group membership; the CNI side uses the records to find what to
// tear down on DEL/GC and after a restart. One JSON file per endpoint, replaced atomically,
// so a kill -9 at any point leaves every record either old or new.
import { EventEmitter } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDir, removeFile, writeFileAtomic } from './atomic-file.js';

export type EndpointPhase =
  /** IP reserved and record written; the veth may or may not exist (crash mid-ADD). */
  | 'creating'
  /** Wired and reported to the runtime. */
  | 'ready'
  /** DEL acknowledged; the kernel teardown is queued. */
  | 'deleting';

export interface Endpoint {
  containerId: string;
  ifname: string;
  /** CNI network name (GC is per network). */
  network: string;
  /** The pod's netns path as given in CNI_NETNS. */
  netns: string;
  /** Kubernetes namespace and pod name from CNI_ARGS (K8S_POD_NAMESPACE / K8S_POD_NAME). */
  namespace?: string;
  podName?: string;
  /** Addresses with prefix, e.g. "10.244.1.5/32". */
  ips: string[];
  hostVeth: string;
  phase: EndpointPhase;
}

export function endpointKey(containerId: string, ifname: string): string {
  return `${containerId}/${ifname}`;
}

export interface EndpointEvents {
  add: [Endpoint];
  remove: [Endpoint];
}

export class EndpointRegistry extends EventEmitter<EndpointEvents> {
  private readonly byKey = new Map<string, Endpoint>();

  private constructor(private readonly dir: string) {
    super();
  }

  /** Loads every persisted record (call once at daemon start). */
  static async open(stateDir: string): Promise<EndpointRegistry> {
    const registry = new EndpointRegistry(join(stateDir, 'endpoints'));
    await ensureDir(registry.dir);
    for (const name of await readdir(registry.dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        const ep = JSON.parse(await readFile(join(registry.dir, name), 'utf8')) as Endpoint;
        registry.byKey.set(endpointKey(ep.containerId, ep.ifname), ep);
      } catch {
        // a record that does not parse cannot be torn down by name; GC by IPAM owner covers it
        await removeFile(join(registry.dir, name));
      }
    }
    return registry;
  }

  get(containerId: string, ifname: string): Endpoint | undefined {
    return this.byKey.get(endpointKey(containerId, ifname));
  }

  list(): Endpoint[] {
    return [...this.byKey.values()];
  }

  /** Ready endpoints only: what the policy side should treat as live pods. */
  live(): Endpoint[] {
    return this.list().filter((ep) => ep.phase === 'ready');
  }

  /** Writes the record; emits 'add' when it becomes ready, 'remove' when a ready one leaves. */
  async put(ep: Endpoint): Promise<void> {
    const key = endpointKey(ep.containerId, ep.ifname);
    const before = this.byKey.get(key);
    await writeFileAtomic(this.file(ep), JSON.stringify(ep));
    this.byKey.set(key, ep);
    if (ep.phase === 'ready' && before?.phase !== 'ready') this.emit('add', ep);
    if (ep.phase !== 'ready' && before?.phase === 'ready') this.emit('remove', before);
  }

  async delete(containerId: string, ifname: string): Promise<void> {
    const key = endpointKey(containerId, ifname);
    const before = this.byKey.get(key);
    if (!before) return;
    await removeFile(this.file(before));
    this.byKey.delete(key);
    if (before.phase === 'ready') this.emit('remove', before);
  }

  private file(ep: Pick<Endpoint, 'containerId' | 'ifname'>): string {
    return join(this.dir, `${encodeURIComponent(ep.containerId)}_${encodeURIComponent(ep.ifname)}.json`);
  }
}
