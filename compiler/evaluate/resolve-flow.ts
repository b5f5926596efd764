// A written flow (`x/a -> ns=prod,app=web : 443`) -> the concrete flows it stands for.
// Selectors and namespaces expand to pods of the snapshot; a CIDR to sample addresses that
// cover every distinct way the program's ipBlocks treat that range; a port name resolves on
// each destination pod; a port range to its bounds and every rule boundary inside it.

import type { EndpointRef, FlowAst } from '../flow/ast.js';
import { cidrRange, formatIp, parseCidr, parseIp, type IpRange } from '../ir/cidr.js';
import { selectorMatches, canonicalSelector } from '../ir/selector.js';
import type { Program } from '../ir/types.js';
import { podByIp, type Cluster } from '../model/cluster.js';
import { podEndpoint, type Endpoint, type Flow } from './endpoints.js';

export interface ResolvedFlows {
  flows: Flow[];
  /** Problems with the written flow (unknown pod, selector matching nothing). */
  errors: Array<{ message: string; start: number; end: number }>;
}

export function resolveEndpoint(ref: EndpointRef, cluster: Cluster, program: Program): { endpoints: Endpoint[]; error?: string } {
  switch (ref.kind) {
    case 'pod': {
      const pod = cluster.pods.find((p) => p.namespace === ref.namespace && p.name === ref.name);
      return pod ? { endpoints: [podEndpoint(cluster, pod)] } : { endpoints: [], error: `no pod ${ref.namespace}/${ref.name} in the cluster snapshot` };
    }
    case 'namespace': {
      const pods = cluster.pods.filter((p) => p.namespace === ref.namespace);
      return pods.length ? { endpoints: pods.map((p) => podEndpoint(cluster, p)) } : { endpoints: [], error: `no pods in namespace ${ref.namespace}` };
    }
    case 'selector': {
      const selector = canonicalSelector(ref.requirements.map((r) => ({ ...r })));
      const pods = cluster.pods.filter(
        (p) =>
          selectorMatches(selector, p.labels) &&
          (ref.namespace ?? []).every((c) => (c.operator === 'In' ? c.values.includes(p.namespace) : !c.values.includes(p.namespace))),
      );
      return pods.length ? { endpoints: pods.map((p) => podEndpoint(cluster, p)) } : { endpoints: [], error: 'the selector matches no pod of the cluster snapshot' };
    }
    case 'ip': {
      const addresses = ref.prefixLength === undefined ? [ref.address] : sampleAddresses(`${ref.address}/${ref.prefixLength}`, program, cluster);
      if (addresses.length === 0) return { endpoints: [], error: `${ref.address} is not a valid address` };
      return {
        endpoints: addresses.map((ip) => {
          const pod = podByIp(cluster, ip);
          return pod ? { ...podEndpoint(cluster, pod, parseIp(ip)!.family), ip } : { kind: 'external' as const, ip };
        }),
      };
    }
  }
}

/** Addresses inside `cidrText` that together meet every ipBlock boundary and pod in it. */
function sampleAddresses(cidrText: string, program: Program, cluster: Cluster): string[] {
  const cidr = parseCidr(cidrText);
  if (!cidr) return [];
  const range = cidrRange(cidr);
  const points = new Set<bigint>([range.first, range.last]);
  const blocks: IpRange[] = [];
  for (const rule of program.rules) {
    for (const peer of rule.peers) {
      if (peer.kind !== 'cidr') continue;
      for (const text of [peer.cidr, ...peer.except]) {
        const c = parseCidr(text);
        if (c && c.family === cidr.family) blocks.push(cidrRange(c));
      }
    }
  }
  for (const b of blocks) {
    for (const v of [b.first, b.last, b.first - 1n, b.last + 1n]) if (v >= range.first && v <= range.last) points.add(v);
  }
  for (const pod of cluster.pods) {
    for (const ip of pod.ips) {
      const a = parseIp(ip);
      if (a && a.family === cidr.family && a.value >= range.first && a.value <= range.last) points.add(a.value);
    }
  }
  return [...points].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((value) => formatIp({ family: cidr.family, value }));
}

function portSamples(from: number, to: number, program: Program): number[] {
  if (to - from < 16) return Array.from({ length: to - from + 1 }, (_, i) => from + i);
  const points = new Set([from, to]);
  for (const rule of program.rules) {
    for (const pm of rule.ports ?? []) {
      if (pm.kind !== 'range') continue;
      for (const v of [pm.from, pm.to, pm.from - 1, pm.to + 1]) if (v >= from && v <= to) points.add(v);
    }
  }
  return [...points].sort((a, b) => a - b);
}

export function resolveFlow(ast: FlowAst, cluster: Cluster, program: Program): ResolvedFlows {
  const errors: ResolvedFlows['errors'] = [];
  const src = resolveEndpoint(ast.source, cluster, program);
  const dst = resolveEndpoint(ast.destination, cluster, program);
  if (src.error) errors.push({ message: src.error, ...ast.source.span });
  if (dst.error) errors.push({ message: dst.error, ...ast.destination.span });
  const flows: Flow[] = [];
  for (const source of src.endpoints) {
    for (const destination of dst.endpoints) {
      let ports: Array<number | undefined>;
      if (!ast.port) ports = [undefined];
      else if (ast.port.kind === 'number') ports = portSamples(ast.port.from, ast.port.to, program);
      else {
        const name = ast.port.name;
        const hit = destination.kind === 'pod' ? destination.pod.ports.find((p) => p.name === name && p.protocol === ast.protocol) : undefined;
        if (!hit) {
          errors.push({ message: `destination ${destination.kind === 'pod' ? `${destination.pod.namespace}/${destination.pod.name}` : destination.ip} has no ${ast.protocol} port named ${name}`, ...ast.port.span });
          continue;
        }
        ports = [hit.port];
      }
      for (const port of ports) flows.push({ source, destination, protocol: ast.protocol, port });
    }
  }
  return { flows, errors };
}
