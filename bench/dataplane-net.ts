// Throwaway topologies for bench/dataplane-throughput.ts: per configuration one "node" network
// namespace routing between a client pod namespace and a server pod namespace (Calico-style as
// in dataplane/nft/podnet.ts: each pod has its /32 and a default route via 169.254.1.1), so
// pod-to-pod traffic crosses the node's forward hook (the cross-node topology is in
// bench/dataplane-cross-node.ts and registers its namespaces here). Every namespace is named
// pcbench-<random>-*, registered before it is created, and removed by destroyAll() (also on
// failure and on SIGINT/SIGTERM, see the caller). Nothing is done in the caller's namespace.

import { addNetns, deleteNetns, run } from '../dataplane/nft/loader.js';

export interface Topology {
  readonly node: string;
  readonly client: string;
  readonly server: string;
}

const created: string[] = [];

export function benchTag(): string {
  return `pcbench-${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/** Records a namespace for destroyAll() before anyone creates it (so a half-built one goes too). */
export function registerNamespace(name: string): void {
  if (!name.startsWith('pcbench-')) throw new Error(`refusing namespace ${name}`);
  created.push(name);
}

async function ns(name: string): Promise<void> {
  registerNamespace(name);
  await addNetns(name);
}

async function batch(netns: string, lines: readonly string[]): Promise<void> {
  const r = await run('ip', ['-n', netns, '-batch', '-'], `${lines.join('\n')}\n`, 30_000);
  if (!r.ok) throw new Error(`ip -n ${netns} -batch: ${r.stderr.trim()}`);
}

export async function sysctl(netns: string, settings: ReadonlyArray<readonly [string, string]>): Promise<void> {
  const r = await run('ip', ['netns', 'exec', netns, 'sysctl', '-q', ...settings.flatMap(([k, v]) => ['-w', `${k}=${v}`])], undefined, 30_000);
  if (!r.ok) throw new Error(`sysctl in ${netns}: ${r.stderr.trim()}`);
}

/** One node namespace with a client pod and a server pod behind it. */
export async function createTopology(tag: string, index: number, clientIp: string, serverIp: string): Promise<Topology> {
  if (!tag.startsWith('pcbench-')) throw new Error(`refusing namespace tag ${tag}`);
  const t: Topology = { node: `${tag}-n${index}`, client: `${tag}-c${index}`, server: `${tag}-s${index}` };
  await ns(t.node);
  await ns(t.client);
  await ns(t.server);
  await sysctl(t.node, [
    ['net.ipv4.ip_forward', '1'],
    ['net.ipv4.conf.all.rp_filter', '0'],
    ['net.ipv4.conf.default.rp_filter', '0'],
  ]);
  await batch(t.node, [
    'link set lo up',
    `link add vc type veth peer name eth0 netns ${t.client}`,
    `link add vs type veth peer name eth0 netns ${t.server}`,
    'addr add 169.254.1.1/32 dev vc',
    'addr add 169.254.1.1/32 dev vs',
    'link set vc up',
    'link set vs up',
    `route add ${clientIp}/32 dev vc`,
    `route add ${serverIp}/32 dev vs`,
  ]);
  for (const [pod, ip] of [
    [t.client, clientIp],
    [t.server, serverIp],
  ] as const) {
    await batch(pod, ['link set lo up', `addr add ${ip}/32 dev eth0`, 'link set eth0 up', 'route add 169.254.1.1 dev eth0', 'route add default via 169.254.1.1 dev eth0']);
  }
  await loadGeneratorSysctls(t.client, t.server);
  return t;
}

/** Room for the connection test: every local port on the client, deep accept queues on the server. */
export async function loadGeneratorSysctls(client: string, server: string): Promise<void> {
  await sysctl(client, [['net.ipv4.ip_local_port_range', '1024 65535']]);
  await sysctl(server, [
    ['net.core.somaxconn', '65535'],
    ['net.ipv4.tcp_max_syn_backlog', '65535'],
  ]);
}

/** Deletes every namespace this module created (in reverse order); never throws. */
export async function destroyAll(): Promise<void> {
  while (created.length > 0) {
    const name = created.pop()!;
    try {
      await deleteNetns(name);
    } catch {
      // keep going: the other namespaces must go too
    }
  }
}

export function createdNamespaces(): readonly string[] {
  return created;
}
