// The two ends of a flow, and the questions the evaluator asks about them.

import type { Protocol } from '../model/k8s-types.js';
import { namespaceLabels, type Cluster, type ClusterPod } from '../model/cluster.js';
import { parseIp } from '../ir/cidr.js';
import type { Labels } from '../ir/selector.js';

export type Endpoint =
  | { readonly kind: 'pod'; readonly pod: ClusterPod; readonly namespaceLabels: Labels; readonly ip?: string }
  | { readonly kind: 'external'; readonly ip: string };

export interface Flow {
  readonly source: Endpoint;
  readonly destination: Endpoint;
  readonly protocol: Protocol;
  /** Undefined: the question is about no particular port; port-restricted rules then do not match. */
  readonly port?: number;
}

export function podEndpoint(cluster: Cluster, pod: ClusterPod, family: 4 | 6 = 4): Endpoint {
  const ip = pod.ips.find((a) => parseIp(a)?.family === family) ?? pod.ips[0];
  return { kind: 'pod', pod, namespaceLabels: namespaceLabels(cluster, pod.namespace), ip };
}

export function describeEndpoint(e: Endpoint): string {
  return e.kind === 'pod' ? `${e.pod.namespace}/${e.pod.name}` : e.ip;
}

/** The address a flow uses for an endpoint (a pod's first address of the flow's family). */
export function endpointIp(e: Endpoint): string | undefined {
  return e.ip;
}
