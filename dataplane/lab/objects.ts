// The lab's view of the cluster: the Kubernetes objects it was given (Namespaces, Nodes, Pods,
// policies), kept as plain JSON in the lab's state and handed to the compiler as text, so the
// lab compiles exactly what `policyc compile -f <policies> -f <snapshot>` would.
import { isIPv6 } from 'node:net';
import type { Inputs } from '../../compiler/model/inputs.js';
import { cidrContains as cniCidrContains, formatCidr, ipToBigint, parseCidr } from '../../cni/ipam/cidr.js';

export interface K8sObject {
  apiVersion?: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [k: string]: unknown;
}

export interface LabObjects {
  namespaces: Record<string, K8sObject>;
  nodes: Record<string, K8sObject>;
  /** by `namespace/name` */
  pods: Record<string, K8sObject>;
  /** by `Kind/namespace/name` (namespace empty for cluster-scoped kinds) */
  policies: Record<string, K8sObject>;
}

export function emptyObjects(): LabObjects {
  return { namespaces: {}, nodes: {}, pods: {}, policies: {} };
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export const podKeyOf = (o: K8sObject): string => `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;
export const policyKeyOf = (o: K8sObject): string => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** The objects of a compilation's inputs, split by kind (policies are taken unvalidated). */
export function objectsOf(inputs: Inputs): LabObjects {
  const out = emptyObjects();
  const named = (o: unknown): o is K8sObject => !!o && typeof o === 'object' && typeof (o as K8sObject).metadata?.name === 'string';
  for (const s of inputs.namespaces) if (named(s.object)) out.namespaces[s.object.metadata.name] = clone(s.object as unknown as K8sObject);
  for (const s of inputs.nodes) if (named(s.object)) out.nodes[s.object.metadata.name] = clone(s.object as unknown as K8sObject);
  for (const s of inputs.pods) {
    if (!named(s.object)) continue;
    const pod = clone(s.object as unknown as K8sObject);
    pod.metadata.namespace ??= 'default';
    out.pods[podKeyOf(pod)] = pod;
  }
  for (const s of inputs.policies) if (named(s.object)) out.policies[policyKeyOf(s.object)] = clone(s.object);
  return out;
}

function list(items: readonly unknown[]): string {
  return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 1)}\n`;
}

/** `kubectl get namespaces,nodes,pods -o json`, as the lab has them (sorted). */
export function snapshotText(objects: LabObjects): string {
  const sorted = (r: Record<string, K8sObject>) => Object.keys(r).sort().map((k) => r[k]);
  return list([...sorted(objects.namespaces), ...sorted(objects.nodes), ...sorted(objects.pods)]);
}

export function policiesText(objects: LabObjects): string {
  return list(Object.keys(objects.policies).sort().map((k) => objects.policies[k]));
}

export function podIpv4(pod: K8sObject): string | undefined {
  const status = (pod.status ?? {}) as { podIP?: unknown; podIPs?: Array<{ ip?: unknown }> };
  const ips = [status.podIP, ...(status.podIPs ?? []).map((p) => p?.ip)].filter((ip): ip is string => typeof ip === 'string');
  return ips.find((ip) => /^\d+\.\d+\.\d+\.\d+$/.test(ip));
}

/** The pod's IPv6 address (status.podIPs; podIP when it is IPv6), if any. */
export function podIpv6(pod: K8sObject): string | undefined {
  const status = (pod.status ?? {}) as { podIP?: unknown; podIPs?: Array<{ ip?: unknown }> };
  const ips = [status.podIP, ...(status.podIPs ?? []).map((p) => p?.ip)].filter((ip): ip is string => typeof ip === 'string');
  return ips.find((ip) => isIPv6(ip));
}

/** The pod's addresses as the lab has them: podIPs = IPv4 then IPv6 (each when there is one), podIP the first. */
export function setPodIp(pod: K8sObject, ip: string | undefined, ip6: string | undefined): void {
  const ips = [ip, ip6].filter((a): a is string => !!a);
  pod.status = { ...(pod.status ?? {}), phase: 'Running', podIP: ips[0], podIPs: ips.map((a) => ({ ip: a })) };
}

export function podNodeName(pod: K8sObject): string | undefined {
  const n = (pod.spec as { nodeName?: unknown } | undefined)?.nodeName;
  return typeof n === 'string' && n ? n : undefined;
}

export function setPodNode(pod: K8sObject, node: string): void {
  pod.spec = { ...(pod.spec ?? {}), nodeName: node };
}

export interface PodPorts {
  TCP: number[];
  UDP: number[];
  SCTP: number[];
}

/** The container ports a pod declares, by protocol (TCP when unset), sorted and unique. */
export function podPorts(pod: K8sObject): PodPorts {
  const out: PodPorts = { TCP: [], UDP: [], SCTP: [] };
  const spec = (pod.spec ?? {}) as { containers?: Array<{ ports?: Array<{ containerPort?: unknown; protocol?: unknown }> }>; initContainers?: unknown };
  for (const c of spec.containers ?? []) {
    for (const p of c?.ports ?? []) {
      const port = Number(p?.containerPort);
      const proto = (typeof p?.protocol === 'string' ? p.protocol.toUpperCase() : 'TCP') as keyof PodPorts;
      if (!Number.isInteger(port) || port < 1 || port > 65535 || !(proto in out)) continue;
      if (!out[proto].includes(port)) out[proto].push(port);
    }
  }
  for (const k of Object.keys(out) as Array<keyof PodPorts>) out[k].sort((a, b) => a - b);
  return out;
}

export function nodePodCidr(node: K8sObject | undefined): string | undefined {
  const spec = (node?.spec ?? {}) as { podCIDR?: unknown; podCIDRs?: unknown };
  const all = [spec.podCIDR, ...(Array.isArray(spec.podCIDRs) ? spec.podCIDRs : [])].filter((c): c is string => typeof c === 'string');
  return all.find((c) => c.includes('.'));
}

/** The node's IPv6 pod CIDR (spec.podCIDRs), if any. */
export function nodePodCidr6(node: K8sObject | undefined): string | undefined {
  const spec = (node?.spec ?? {}) as { podCIDR?: unknown; podCIDRs?: unknown };
  const all = [spec.podCIDR, ...(Array.isArray(spec.podCIDRs) ? spec.podCIDRs : [])].filter((c): c is string => typeof c === 'string');
  return all.find((c) => c.includes(':'));
}

// ---- IPv6 arithmetic for pod CIDRs (bigints, cni/ipam/cidr.ts)

export function cidr6Contains(cidr: string, ip: string): boolean {
  try {
    return isIPv6(ip) && cniCidrContains(parseCidr(cidr), ip);
  } catch {
    return false;
  }
}

export function cidrs6Overlap(a: string, b: string): boolean {
  const ca = parseCidr(a);
  const cb = parseCidr(b);
  const len = BigInt(128 - Math.min(ca.prefix, cb.prefix));
  return ca.base >> len === cb.base >> len;
}

/** The /64 holding all the IPv6 addresses, or the smallest prefix covering them. */
export function coveringCidr6(ips: readonly string[]): string {
  const vals = ips.map(ipToBigint);
  let len = 64;
  const net = (v: bigint, l: number) => (v >> BigInt(128 - l)) << BigInt(128 - l);
  while (len > 0 && new Set(vals.map((v) => net(v, len))).size > 1) len--;
  return formatCidr({ family: 6, base: net(vals[0]!, len), prefix: len });
}

/** The first fd00:10:244:X::/64 overlapping none of the given IPv6 CIDRs. */
export function freeCidr6(taken: readonly string[]): string {
  for (let x = 1; x < 0x10000; x++) {
    const c = `fd00:10:244:${x.toString(16)}::/64`;
    if (!taken.some((t) => cidrs6Overlap(t, c))) return c;
  }
  throw new Error('no free /64 in fd00:10:244::/48 for a node');
}

// ---- IPv4 arithmetic for pod CIDRs

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

export function intToIp(v: number): string {
  return [24, 16, 8, 0].map((s) => (v >>> s) & 0xff).join('.');
}

function maskOf(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

export function cidrContains(cidr: string, ip: string): boolean {
  if (!cidr.includes('.') || !ip.includes('.')) return false;
  const [base, len] = cidr.split('/');
  const mask = maskOf(Number(len));
  return ((ipToInt(ip) & mask) >>> 0) === ((ipToInt(base!) & mask) >>> 0);
}

export function cidrsOverlap(a: string, b: string): boolean {
  const [ab, al] = a.split('/');
  const [bb, bl] = b.split('/');
  const len = Math.min(Number(al), Number(bl));
  const mask = maskOf(len);
  return ((ipToInt(ab!) & mask) >>> 0) === ((ipToInt(bb!) & mask) >>> 0);
}

/** The /24 holding all the IPs, or the smallest prefix covering them. */
export function coveringCidr(ips: readonly string[]): string {
  let len = 24;
  const vals = ips.map(ipToInt);
  while (len > 0 && new Set(vals.map((v) => (v & maskOf(len)) >>> 0)).size > 1) len--;
  return `${intToIp((vals[0]! & maskOf(len)) >>> 0)}/${len}`;
}

/** The first 10.244.X.0/24 overlapping none of the given CIDRs. */
export function freeCidr(taken: readonly string[]): string {
  for (let x = 1; x < 256; x++) {
    const c = `10.244.${x}.0/24`;
    if (!taken.some((t) => cidrsOverlap(t, c))) return c;
  }
  throw new Error('no free /24 in 10.244.0.0/16 for a node');
}
