// The reachability matrix over every pod of a snapshot: rows = from, columns = to.

import type { Protocol } from '../model/k8s-types.js';
import { podKey, type ClusterPod } from '../model/cluster.js';
import { parseIp } from '../ir/cidr.js';
import { podEndpoint } from './endpoints.js';
import type { Evaluator } from './evaluator.js';

export interface ReachMatrix {
  pods: string[];
  allowed: boolean[][];
}

/** A port name resolves on each destination pod; a pod without it cannot be reached on it. */
export function resolvePort(pod: ClusterPod, port: number | string, protocol: Protocol): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return pod.ports.find((p) => p.name === port && p.protocol === protocol)?.port;
}

/**
 * `family` (4 or 6): flows use each pod's address of that family (ipBlocks are matched against
 * it), and a pod without one can neither send nor receive over that family. Without it, a
 * pod's IPv4 address is used (its first address when it has none), as before.
 */
export function computeReach(evaluator: Evaluator, port: number | string, protocol: Protocol, pods: readonly ClusterPod[] = evaluator.cluster.pods, family?: 4 | 6): ReachMatrix {
  const cluster = evaluator.cluster;
  const endpoints = pods.map((p) => podEndpoint(cluster, p, family));
  const hasFamily = pods.map((p) => family === undefined || p.ips.some((a) => parseIp(a)?.family === family));
  const allowed = endpoints.map((source, i) =>
    endpoints.map((destination, j) => {
      if (!hasFamily[i] || !hasFamily[j]) return false;
      const resolved = resolvePort(pods[j], port, protocol);
      if (resolved === undefined) return false;
      return evaluator.evaluate({ source, destination, protocol, port: resolved }).allowed;
    }),
  );
  return { pods: pods.map(podKey), allowed };
}
