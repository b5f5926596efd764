// `policyc lab`: a local cluster made of network namespaces.
//
//   pl-<lab>-u            underlay: bridge br0; one veth per node (192.168.200.<i>/24 on ul0)
//   pl-<lab>-n<i>         node i: ip_forward, vxlan0 overlay (dataplane/overlay/), the node
//                         daemon (`policyc daemon --host-netns pl-<lab>-n<i> --node-name <node>`,
//                         a process: node-local policy tables), the policyc nft table and
//                         the overlay's notrack table (dataplane/overlay/untrack.ts)
//   pl-<lab>-<ns>.<pod>   a pod: eth0 wired by our CNI plugin, one server process
//   <root>/<lab>/         lab.json (what exists), pids, logs, daemon state and sockets
//
// Everything is created inside namespaces the lab creates; nothing in the root namespace.
// Each function here is one CLI subcommand (cli/commands/lab.ts prints their results).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { compileSources, type Compilation } from '../../compiler/compile.js';
import { hasErrors } from '../../compiler/diagnostics/diagnostic.js';
import { resolvePort, type ReachMatrix } from '../../compiler/evaluate/reach.js';
import type { Protocol } from '../../compiler/model/k8s-types.js';
import type { SourceFile } from '../../compiler/syntax/source.js';
import { renderDiagnostics } from '../../cli/render-diagnostics.js';
import { setupOverlay } from '../overlay/vxlan.js';
import { daemonAccepts } from './daemon-client.js';
import { daemonCommand, ensureCniPlugin, ensureHelper } from './helper.js';
import { containerId, labDir, labNameProblem, netnsPath, netnsPrefix, nodeNetns, podNetns, underlayNetns } from './names.js';
import {
  cidrContains,
  cidrsOverlap,
  coveringCidr,
  emptyObjects,
  cidr6Contains,
  cidrs6Overlap,
  coveringCidr6,
  freeCidr,
  freeCidr6,
  nodePodCidr,
  nodePodCidr6,
  objectsOf,
  podIpv4,
  podIpv6,
  podKeyOf,
  podNodeName,
  podPorts,
  policiesText,
  setPodIp,
  setPodNode,
  snapshotText,
  type K8sObject,
  type LabObjects,
} from './objects.js';
import { daemonPolicyArgs, deliverPolicies, DELIVERY, type Delivered } from './policy-delivery.js';
import { createPodSandbox, conflistFor, deletePod, startPodServer } from './pods.js';
import { findLabProcesses, labMarkers, markerOf, spawnDetached, stopProcess } from './processes.js';
import { must } from './run.js';
import { labExists, loadState, makeLabDir, recordedPids, removeLabDir, saveState, tryLoadState, withLabLock, type LabNode, type LabPod, type LabState } from './state.js';
import { createNode, createUnderlay, delNetns, listNetns, underlayIp } from './topology.js';

export class LabError extends Error {}

export type Timings = Record<string, number>;

function timer(): { mark(label: string): void; timings: Timings } {
  const timings: Timings = {};
  let last = performance.now();
  const start = last;
  return {
    timings,
    mark(label) {
      const now = performance.now();
      timings[label] = Math.round(now - last);
      timings.total = Math.round(now - start);
      last = now;
    },
  };
}

function checkName(name: string): void {
  const problem = labNameProblem(name);
  if (problem) throw new LabError(problem);
}

/** Compiles input files on their own, for their diagnostics (errors abort with the rendered text). */
function readObjects(sources: readonly SourceFile[]): LabObjects {
  const c = compileSources(sources);
  const errors = c.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length) throw new LabError(`${renderDiagnostics(errors, c.sources, 'text')}\npolicyc lab: ${errors.length} error(s) in the input; nothing was changed`);
  return objectsOf(c.inputs);
}

/** The lab's policies compiled against its cluster state. */
export function compileLab(objects: LabObjects): Compilation {
  const c = compileSources([
    { name: 'lab-policies.json', text: policiesText(objects) },
    { name: 'lab-cluster.json', text: snapshotText(objects) },
  ]);
  if (hasErrors(c.diagnostics) || !c.program) {
    const errors = c.diagnostics.filter((d) => d.severity === 'error');
    throw new LabError(`the lab's policy set does not compile:\n${renderDiagnostics(errors, c.sources, 'text')}`);
  }
  return c;
}

// ---- planning

interface PlannedNode {
  name: string;
  /** the node's IPv4 pod CIDR (labs with IPv4) */
  podCidr?: string;
  /** the node's IPv6 pod CIDR (labs with IPv6) */
  podCidr6?: string;
}

/**
 * The lab's address families, decided at `up` from the snapshot: each family some pod has an
 * address of or some Node a pod CIDR of; IPv4 alone when the snapshot names none. So a snapshot
 * whose pods are all IPv6-only is an IPv6-only lab (no IPv4 anywhere but the underlay).
 */
export function labFamilies(objects: LabObjects): { v4: boolean; v6: boolean } {
  const pods = Object.values(objects.pods);
  const nodes = Object.values(objects.nodes);
  const v6 = pods.some((p) => !!podIpv6(p)) || nodes.some((n) => !!nodePodCidr6(n));
  const v4 = pods.some((p) => !!podIpv4(p)) || nodes.some((n) => !!nodePodCidr(n)) || !v6;
  return { v4, v6 };
}

/** How one address family's pod CIDRs are planned (for each family the lab has). */
interface FamilyPlan {
  readonly fromNode: (node: K8sObject | undefined) => string | undefined;
  readonly podIp: (pod: K8sObject) => string | undefined;
  readonly covering: (ips: string[]) => string;
  readonly free: (taken: string[]) => string;
  readonly overlap: (a: string, b: string) => boolean;
  readonly hostBits: string;
  /** how the overlap error names the CIDRs and the Node field that fixes it */
  readonly label: string;
  readonly nodeField: string;
}

// IPv6: Node spec.podCIDRs, else the /64 covering the node's pods' IPv6 addresses, else a free fd00:10:244:X::/64
const FAMILY_PLAN: Record<4 | 6, FamilyPlan> = {
  4: { fromNode: nodePodCidr, podIp: podIpv4, covering: coveringCidr, free: freeCidr, overlap: cidrsOverlap, hostBits: '/32', label: 'pod CIDRs', nodeField: 'spec.podCIDR' },
  6: { fromNode: nodePodCidr6, podIp: podIpv6, covering: coveringCidr6, free: freeCidr6, overlap: cidrs6Overlap, hostBits: '/128', label: 'IPv6 pod CIDRs', nodeField: 'spec.podCIDRs' },
};

/** Per node: the Node's own pod CIDR, else one covering its pods' addresses, else a free one; no two may overlap. */
function nodeCidrs(list: readonly string[], objects: LabObjects, pods: readonly K8sObject[], f: FamilyPlan): Map<string, string> {
  const cidrs = new Map<string, string>();
  for (const name of list) {
    const fromNode = f.fromNode(objects.nodes[name]);
    if (fromNode) {
      cidrs.set(name, fromNode);
      continue;
    }
    const ips = pods.filter((p) => podNodeName(p) === name).map(f.podIp).filter((ip): ip is string => !!ip);
    if (ips.length) cidrs.set(name, f.covering(ips));
  }
  // pods with an IP but no node: the node whose CIDR holds it
  for (const name of list) if (!cidrs.has(name)) cidrs.set(name, f.free([...cidrs.values(), ...pods.map(f.podIp).filter((ip): ip is string => !!ip).map((ip) => `${ip}${f.hostBits}`)]));
  for (const [i, a] of list.entries()) {
    for (const b of list.slice(i + 1)) {
      if (f.overlap(cidrs.get(a)!, cidrs.get(b)!)) throw new LabError(`${f.label} of ${a} (${cidrs.get(a)}) and ${b} (${cidrs.get(b)}) overlap; give Node objects with ${f.nodeField}`);
    }
  }
  return cidrs;
}

/** Nodes: those the snapshot names (Node objects, pods' spec.nodeName), else 2; CIDRs from Node spec.podCIDR or the pods' IPs. */
export function planNodes(objects: LabObjects, requested?: number): PlannedNode[] {
  const pods = Object.values(objects.pods);
  const names = new Set<string>(Object.keys(objects.nodes));
  for (const p of pods) {
    const n = podNodeName(p);
    if (n) names.add(n);
  }
  const list = [...names].sort();
  const want = requested ?? (list.length || 2);
  if (want < 1 || want > 64) throw new LabError(`--nodes must be 1-64`);
  if (list.length > want) throw new LabError(`the snapshot names ${list.length} nodes (${list.join(', ')}); --nodes ${want} is too few`);
  for (let i = 1; list.length < want; i++) if (!list.includes(`node-${i}`)) list.push(`node-${i}`);
  const families = labFamilies(objects);
  const v4 = families.v4 ? nodeCidrs(list, objects, pods, FAMILY_PLAN[4]) : undefined;
  const v6 = families.v6 ? nodeCidrs(list, objects, pods, FAMILY_PLAN[6]) : undefined;
  return list.map((name) => ({ name, ...(v4 ? { podCidr: v4.get(name)! } : {}), ...(v6 ? { podCidr6: v6.get(name)! } : {}) }));
}

function placePod(pod: K8sObject, nodes: readonly LabNode[], pods: Record<string, LabPod>): LabNode {
  const key = podKeyOf(pod);
  const ip = podIpv4(pod);
  const named = podNodeName(pod);
  let node: LabNode | undefined;
  if (named) {
    node = nodes.find((n) => n.name === named);
    if (!node) throw new LabError(`pod ${key} is on node '${named}', which the lab does not have (${nodes.map((n) => n.name).join(', ')})`);
  } else if (ip) {
    node = nodes.find((n) => !!n.podCidr && cidrContains(n.podCidr, ip));
    if (!node) throw new LabError(`pod ${key}: no node's pod CIDR holds its IP ${ip}`);
  } else if (podIpv6(pod)) {
    const ip6 = podIpv6(pod)!;
    node = nodes.find((n) => !!n.podCidr6 && cidr6Contains(n.podCidr6, ip6));
    if (!node) throw new LabError(`pod ${key}: no node's IPv6 pod CIDR holds its IP ${ip6}`);
  } else {
    const load = (n: LabNode) => Object.values(pods).filter((p) => p.node === n.name).length;
    node = [...nodes].sort((a, b) => load(a) - load(b) || a.index - b.index)[0]!;
  }
  if (ip && !node.podCidr) throw new LabError(`pod ${key}: IPv4 address ${ip} but the lab is IPv6-only (the families are decided at 'lab up')`);
  if (ip && !cidrContains(node.podCidr!, ip)) throw new LabError(`pod ${key}: IP ${ip} is outside ${node.name}'s pod CIDR ${node.podCidr}`);
  const ip6 = podIpv6(pod);
  if (ip6 && !node.podCidr6) throw new LabError(`pod ${key}: IPv6 address ${ip6} but the lab is IPv4-only (dual-stack is decided at 'lab up')`);
  if (ip6 && !cidr6Contains(node.podCidr6!, ip6)) throw new LabError(`pod ${key}: IPv6 ${ip6} is outside ${node.name}'s IPv6 pod CIDR ${node.podCidr6}`);
  return node;
}

async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const errors: unknown[] = [];
  await Promise.all(
    Array.from({ length: Math.min(limit, queue.length) }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        try {
          await fn(item);
        } catch (err) {
          errors.push(err);
        }
      }
    }),
  );
  if (errors.length) throw errors[0];
}

// ---- pods

async function addPod(state: LabState, plugin: string, pod: K8sObject): Promise<void> {
  const key = podKeyOf(pod);
  const node = placePod(pod, state.nodes, state.pods);
  const generation = ++state.generation;
  const ns = pod.metadata.namespace ?? 'default';
  // the snapshot's addresses: the plugin is asked for exactly these (families included)
  const want = { ip: podIpv4(pod), ip6: podIpv6(pod) };
  const lp: LabPod = {
    namespace: ns,
    name: pod.metadata.name,
    node: node.name,
    ...(want.ip ? { ip: want.ip } : {}),
    ...(want.ip6 ? { ip6: want.ip6 } : {}),
    netns: podNetns(state.name, ns, pod.metadata.name),
    containerId: containerId(state.name, ns, pod.metadata.name, generation),
    generation,
    ports: podPorts(pod),
  };
  state.pods[key] = lp; // placed: concurrent placements see it
  try {
    const got = await createPodSandbox(state.name, plugin, node, lp, want);
    delete lp.ip;
    delete lp.ip6;
    Object.assign(lp, got);
  } catch (err) {
    delete state.pods[key];
    throw err;
  }
  setPodIp(pod, lp.ip, lp.ip6);
  setPodNode(pod, node.name);
  state.objects.pods[key] = pod;
  lp.serverPid = await startPodServer(state.name, state.dir, lp);
}

async function removePod(state: LabState, plugin: string, key: string): Promise<void> {
  const lp = state.pods[key];
  if (lp) await deletePod(plugin, state.nodes.find((n) => n.name === lp.node), lp);
  delete state.pods[key];
  delete state.objects.pods[key];
}

// ---- up

export interface UpOptions {
  name: string;
  sources: readonly SourceFile[];
  nodes?: number;
  dataplane?: string;
  log?: (msg: string) => void;
}

export interface UpResult {
  state: LabState;
  timings: Timings;
  delivered: Delivered;
}

export async function labUp(options: UpOptions): Promise<UpResult> {
  const { name } = options;
  checkName(name);
  if ((options.dataplane ?? 'nft') !== 'nft') throw new LabError(`--dataplane ${options.dataplane}: only 'nft' is available`);
  const objects = readObjects(options.sources);
  if (labExists(name)) throw new LabError(`lab '${name}' exists (${labDir(name)}); 'policyc lab down --name ${name}' first`);
  const leftovers = (await listNetns()).filter((n) => n.startsWith(netnsPrefix(name)));
  if (leftovers.length) throw new LabError(`namespaces of a lab '${name}' exist (${leftovers.join(', ')}); 'policyc lab down --name ${name}' first`);
  const planned = planNodes(objects, options.nodes);
  const t = timer();
  const dir = makeLabDir(name);
  const state: LabState = {
    version: 1,
    name,
    dir,
    createdAt: new Date().toISOString(),
    underlayNetns: underlayNetns(name),
    nodes: planned.map((p, i) => ({
      name: p.name,
      index: i + 1,
      netns: nodeNetns(name, i + 1),
      underlayIp: underlayIp(i + 1),
      podCidr: p.podCidr,
      ...(p.podCidr6 ? { podCidr6: p.podCidr6 } : {}),
      socket: join(dir, `node${i + 1}.sock`),
      stateDir: join(dir, `node${i + 1}`),
      spoolDir: join(dir, `node${i + 1}`, 'cni-spool'),
      conflist: join(dir, `node${i + 1}`, 'net.d', '10-policyc-lab.conflist'),
    })),
    pods: {},
    objects: { ...emptyObjects(), namespaces: objects.namespaces, nodes: objects.nodes, policies: objects.policies },
    generation: 0,
    delivery: DELIVERY,
  };
  try {
    await saveState(state);
    const [plugin] = await Promise.all([ensureCniPlugin(), ensureHelper()]);
    t.mark('build');
    await createUnderlay(state.underlayNetns);
    await Promise.all(state.nodes.map((n) => createNode(n, state.underlayNetns)));
    await setupOverlay(state.nodes.map((n) => ({ index: n.index, netns: n.netns, underlayDev: 'ul0', underlayIp: n.underlayIp, podCidr: n.podCidr, podCidr6: n.podCidr6 })));
    t.mark('nodes');
    await Promise.all(
      state.nodes.map(async (n) => {
        mkdirSync(join(n.stateDir, 'net.d'), { recursive: true, mode: 0o700 });
        writeFileSync(n.conflist, `${JSON.stringify(conflistFor(name, n), null, 2)}\n`);
        const cmd = daemonCommand(['--state-dir', n.stateDir, '--socket', n.socket, '--spool-dir', n.spoolDir, '--host-netns', n.netns, '--node-name', n.name, ...daemonPolicyArgs(state.delivery)]);
        n.pid = await spawnDetached({
          lab: name,
          what: `daemon ${n.name}`,
          file: cmd.file,
          args: cmd.args,
          cwd: cmd.cwd,
          logPath: join(dir, `${n.name}.daemon.log`),
          ready: () => daemonAccepts(n.socket),
          timeoutMs: 60_000,
        });
      }),
    );
    await saveState(state);
    t.mark('daemons');
    // policies first: a node daemon with a policy engine fails closed (no pod before a policy)
    await deliverPolicies(state.nodes, compileLab({ ...state.objects, pods: objects.pods }), { ...state.objects, pods: objects.pods }, state.delivery);
    t.mark('policies');
    await inParallel(Object.values(objects.pods), 6, (pod) => addPod(state, plugin, pod));
    await saveState(state);
    t.mark('pods');
    const delivered = await deliverPolicies(state.nodes, compileLab(state.objects), state.objects, state.delivery);
    await saveState(state);
    t.mark('policies again');
    return { state, timings: t.timings, delivered };
  } catch (err) {
    await labDown(name).catch(() => undefined);
    throw err;
  }
}

// ---- apply

export interface ApplyOptions {
  name: string;
  sources: readonly SourceFile[];
  /** remove policies the sources do not hold */
  prune?: boolean;
}

export interface ApplyResult {
  created: string[];
  recreated: string[];
  updatedPods: string[];
  policies: { added: string[]; updated: string[]; removed: string[] };
  delivered: Delivered;
  timings: Timings;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export async function labApply(options: ApplyOptions): Promise<ApplyResult> {
  checkName(options.name);
  const incoming = readObjects(options.sources);
  return withLabLock(options.name, async () => {
    const t = timer();
    const state = loadState(options.name);
    const result: ApplyResult = { created: [], recreated: [], updatedPods: [], policies: { added: [], updated: [], removed: [] }, delivered: { how: state.delivery ?? DELIVERY, ms: 0 }, timings: {} };
    Object.assign(state.objects.namespaces, incoming.namespaces);
    for (const [name, node] of Object.entries(incoming.nodes)) {
      if (!state.nodes.some((n) => n.name === name)) throw new LabError(`node ${name} is not in the lab (${state.nodes.map((n) => n.name).join(', ')}); nodes are fixed at 'lab up'`);
      state.objects.nodes[name] = node;
    }
    const toCreate: K8sObject[] = [];
    const toRecreate: K8sObject[] = [];
    const restart: string[] = [];
    for (const [key, pod] of Object.entries(incoming.pods)) {
      const lp = state.pods[key];
      if (!lp) {
        toCreate.push(pod);
        continue;
      }
      const ip = podIpv4(pod);
      const ip6 = podIpv6(pod);
      const node = podNodeName(pod);
      // with addresses, the pod must have exactly those (a family more or less is a new
      // sandbox); without any, it keeps the ones it has (a manifest carries no status)
      const addressed = !!(ip || ip6);
      if ((addressed && (ip !== lp.ip || ip6 !== lp.ip6)) || (node && node !== lp.node)) {
        toRecreate.push(pod);
        continue;
      }
      if (!addressed) setPodIp(pod, lp.ip, lp.ip6);
      if (!node) setPodNode(pod, lp.node);
      if (!same(podPorts(pod), lp.ports)) restart.push(key);
      if (!same(pod, state.objects.pods[key])) result.updatedPods.push(key);
      state.objects.pods[key] = pod;
    }
    for (const [key, policy] of Object.entries(incoming.policies)) {
      if (!state.objects.policies[key]) result.policies.added.push(key);
      else if (!same(state.objects.policies[key], policy)) result.policies.updated.push(key);
      state.objects.policies[key] = policy;
    }
    if (options.prune) {
      for (const key of Object.keys(state.objects.policies)) {
        if (!incoming.policies[key]) {
          delete state.objects.policies[key];
          result.policies.removed.push(key);
        }
      }
    }
    // placement (node, CIDRs, family) checked before any pod is removed or created
    for (const pod of [...toCreate, ...toRecreate]) placePod(pod, state.nodes, state.pods);
    // compile before touching the kernel: a policy set that does not compile changes nothing
    compileLab({ ...state.objects, pods: { ...state.objects.pods, ...Object.fromEntries([...toCreate, ...toRecreate].map((p) => [podKeyOf(p), p])) } });
    t.mark('compile');
    if (toCreate.length || toRecreate.length || restart.length) {
      const plugin = await ensureCniPlugin();
      for (const pod of toRecreate) {
        await removePod(state, plugin, podKeyOf(pod));
        result.recreated.push(podKeyOf(pod));
      }
      await inParallel([...toCreate, ...toRecreate], 6, (pod) => addPod(state, plugin, pod));
      result.created.push(...toCreate.map(podKeyOf));
      for (const key of restart) {
        const lp = state.pods[key]!;
        if (lp.serverPid) await stopProcess(lp.serverPid, netnsPath(lp.netns), 1000);
        lp.ports = podPorts(state.objects.pods[key]!);
        lp.serverPid = await startPodServer(state.name, state.dir, lp);
      }
      await saveState(state);
      t.mark('pods');
    }
    result.delivered = await deliverPolicies(state.nodes, compileLab(state.objects), state.objects, state.delivery);
    await saveState(state);
    t.mark('deliver');
    result.timings = t.timings;
    return result;
  });
}

// ---- delete

export interface DeleteResult {
  pods: string[];
  policies: string[];
  namespaces: string[];
  delivered: Delivered;
}

/** `kind`: pod, namespace, or a policy kind (networkpolicy, adminnetworkpolicy, ...). `target`: ns/name or name. */
export async function labDelete(name: string, kind: string, target: string, namespace = 'default'): Promise<DeleteResult> {
  checkName(name);
  return withLabLock(name, async () => {
    const state = loadState(name);
    const k = kind.toLowerCase().replace(/ies$/, 'y').replace(/s$/, '');
    const [ns, obj] = target.includes('/') ? (target.split('/', 2) as [string, string]) : [namespace, target];
    const out: DeleteResult = { pods: [], policies: [], namespaces: [], delivered: { how: state.delivery ?? DELIVERY, ms: 0 } };
    let podKeys: string[] = [];
    if (k === 'pod' || k === 'po') {
      const key = `${ns}/${obj}`;
      if (!state.pods[key]) throw new LabError(`no pod ${key} in lab '${name}'`);
      podKeys = [key];
    } else if (k === 'namespace' || k === 'ns') {
      const nsName = target;
      if (!state.objects.namespaces[nsName] && !Object.values(state.pods).some((p) => p.namespace === nsName)) throw new LabError(`no namespace ${nsName} in lab '${name}'`);
      podKeys = Object.keys(state.pods).filter((key) => state.pods[key]!.namespace === nsName);
      for (const key of Object.keys(state.objects.policies)) {
        if (state.objects.policies[key]!.metadata.namespace === nsName) {
          delete state.objects.policies[key];
          out.policies.push(key);
        }
      }
      delete state.objects.namespaces[nsName];
      out.namespaces.push(nsName);
    } else {
      const matches = Object.keys(state.objects.policies).filter((key) => {
        const p = state.objects.policies[key]!;
        const aliases = [p.kind.toLowerCase(), p.kind === 'NetworkPolicy' ? 'netpol' : '', p.kind === 'AdminNetworkPolicy' ? 'anp' : '', p.kind === 'BaselineAdminNetworkPolicy' ? 'banp' : ''];
        if (!aliases.includes(k)) return false;
        return p.metadata.namespace ? p.metadata.namespace === ns && p.metadata.name === obj : p.metadata.name === target;
      });
      if (!matches.length) throw new LabError(`no ${kind} ${target} in lab '${name}'`);
      for (const key of matches) delete state.objects.policies[key];
      out.policies.push(...matches);
    }
    if (podKeys.length) {
      const plugin = await ensureCniPlugin();
      for (const key of podKeys) await removePod(state, plugin, key);
      out.pods.push(...podKeys);
      await saveState(state);
    }
    out.delivered = await deliverPolicies(state.nodes, compileLab(state.objects), state.objects, state.delivery);
    await saveState(state);
    return out;
  });
}

// ---- probe

export interface ProbeOptions {
  timeoutMs?: number;
  /** 4 or 6: probe each pod's address of that family; default 4, or 6 in an IPv6-only lab */
  family?: 4 | 6;
}

export interface ProbeResult extends ReachMatrix {
  ms: number;
  probes: number;
  family: 4 | 6;
}

export async function labProbe(name: string, port: number | string, protocol: Protocol, options: ProbeOptions = {}): Promise<ProbeResult> {
  checkName(name);
  const started = performance.now();
  const state = loadState(name);
  // an IPv6-only lab has one family to probe, and `policyc reach` without --family reads its pods' IPv6 addresses
  const family = options.family ?? (state.nodes.some((n) => n.podCidr) ? 4 : 6);
  if (family !== 4 && family !== 6) throw new LabError(`--family must be 4 or 6`);
  if (family === 6 && !state.nodes.some((n) => n.podCidr6)) throw new LabError(`lab '${name}' is IPv4-only: no pod of the snapshot it was started from has an IPv6 address (status.podIPs)`);
  if (family === 4 && !state.nodes.some((n) => n.podCidr)) throw new LabError(`lab '${name}' is IPv6-only: no pod of the snapshot it was started from has an IPv4 address; probe with --family 6`);
  const helper = await ensureHelper();
  const addressOf = (p: LabPod) => (family === 6 ? p.ip6 : p.ip);
  // the compiler's pod order, so the matrix lines up with `policyc reach`
  const cluster = compileSources([{ name: 'lab-cluster.json', text: snapshotText(state.objects) }]).cluster;
  const pods = cluster.pods.filter((p) => state.pods[`${p.namespace}/${p.name}`]);
  const lines: string[] = [];
  const cells: Array<[number, number]> = [];
  for (const [i, src] of pods.entries()) {
    const from = state.pods[`${src.namespace}/${src.name}`]!;
    for (const [j, dst] of pods.entries()) {
      const to = state.pods[`${dst.namespace}/${dst.name}`]!;
      const resolved = resolvePort(dst, port, protocol);
      // a pod without an address of the family can neither send nor receive over it
      if (resolved === undefined || !addressOf(to) || !addressOf(from)) continue;
      lines.push(`${netnsPath(from.netns)} ${netnsPath(to.netns)} ${addressOf(to)} ${resolved}`);
      cells.push([i, j]);
    }
  }
  const allowed = pods.map(() => pods.map(() => false));
  if (lines.length) {
    const out = await must(helper, ['probe', protocol, String(options.timeoutMs ?? 400)], { input: `${lines.join('\n')}\n`, timeoutMs: 60_000 });
    const results = out.trim().split('\n');
    if (results.length !== cells.length) throw new Error(`probe helper answered ${results.length} of ${cells.length} probes`);
    for (const [k, [i, j]] of cells.entries()) allowed[i]![j] = results[k] === '1';
  }
  return { pods: pods.map((p) => `${p.namespace}/${p.name}`), allowed, ms: Math.round(performance.now() - started), probes: lines.length, family };
}

// ---- exec

export interface ExecStreams {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin?: 'inherit' | 'ignore';
}

export function podOf(state: LabState, ref: string): LabPod {
  const key = ref.includes('/') ? ref : `default/${ref}`;
  const pod = state.pods[key];
  if (!pod) throw new LabError(`no pod ${key} in lab '${state.name}' (pods: ${Object.keys(state.pods).sort().join(', ')})`);
  return pod;
}

/** Runs a command inside a pod's netns (`ip netns exec`); resolves with its exit status. */
export async function labExec(name: string, podRef: string, argv: readonly string[], streams: ExecStreams): Promise<number> {
  checkName(name);
  if (argv.length === 0) throw new LabError('lab exec needs a command after --');
  const pod = podOf(loadState(name), podRef);
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', pod.netns, ...argv], { stdio: [streams.stdin ?? 'ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => streams.stdout.write(d));
    child.stderr!.on('data', (d: Buffer) => streams.stderr.write(d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

// ---- down

export interface DownResult {
  stoppedProcesses: number[];
  removedNetns: string[];
  /** what could not be removed (should be empty) */
  leftNetns: string[];
  leftProcesses: number[];
}

/** Removes everything the lab created: recorded processes, processes carrying its markers, namespaces with its prefix, its dir. */
export async function labDown(name: string): Promise<DownResult> {
  checkName(name);
  const dir = labDir(name);
  const markers = labMarkers(name, dir);
  const state = tryLoadState(name);
  const candidates = new Set<number>([
    ...(state?.nodes.map((n) => n.pid ?? 0) ?? []),
    ...(state ? Object.values(state.pods).map((p) => p.serverPid ?? 0) : []),
    ...recordedPids(name),
    ...findLabProcesses(markers),
  ]);
  const stopped: number[] = [];
  await Promise.all(
    [...candidates].map(async (pid) => {
      const marker = markerOf(pid, markers);
      if (marker && (await stopProcess(pid, marker))) stopped.push(pid);
    }),
  );
  const prefix = netnsPrefix(name);
  const ours = (await listNetns()).filter((n) => n.startsWith(prefix));
  // pods first, then nodes, then the underlay
  const rank = (n: string) => (n === underlayNetns(name) ? 2 : /^pl-[a-z0-9]+-n\d+$/.test(n) ? 1 : 0);
  const removed: string[] = [];
  for (const r of [0, 1, 2]) {
    await Promise.all(
      ours
        .filter((n) => rank(n) === r)
        .map(async (n) => {
          if (await delNetns(n)) removed.push(n);
        }),
    );
  }
  removeLabDir(name);
  const leftNetns = (await listNetns()).filter((n) => n.startsWith(prefix));
  const leftProcesses = findLabProcesses(markers);
  return { stoppedProcesses: stopped.sort((a, b) => a - b), removedNetns: removed.sort(), leftNetns, leftProcesses };
}

// ---- status

export function labStatus(name: string): LabState {
  checkName(name);
  return loadState(name);
}
