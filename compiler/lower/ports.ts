// NetworkPolicy and AdminNetworkPolicy ports -> PortMatch.

import type { AdminNetworkPolicyPort, NetworkPolicyPort, Protocol } from '../model/k8s-types.js';
import type { PortMatch } from '../ir/types.js';
import type { Span } from '../syntax/source.js';

function protocolOf(p: unknown): Protocol {
  return p === 'UDP' || p === 'SCTP' ? p : 'TCP';
}

/** `ports: [{}]` means every TCP port; `port` without `endPort` is one port. */
export function lowerNetworkPolicyPort(p: NetworkPolicyPort, span: Span): PortMatch {
  const protocol = protocolOf(p.protocol);
  if (p.port === undefined || p.port === null) return { kind: 'all', protocol, span };
  if (typeof p.port === 'string' && !/^\d+$/.test(p.port)) return { kind: 'named', protocol, name: p.port, span };
  const from = Number(p.port);
  const to = typeof p.endPort === 'number' ? p.endPort : from;
  return { kind: 'range', protocol, from, to, span };
}

export function lowerAdminPort(p: AdminNetworkPolicyPort, span: Span): PortMatch | undefined {
  if (p.portNumber) return { kind: 'range', protocol: protocolOf(p.portNumber.protocol), from: p.portNumber.port, to: p.portNumber.port, span };
  if (p.portRange) return { kind: 'range', protocol: protocolOf(p.portRange.protocol), from: p.portRange.start, to: p.portRange.end, span };
  if (typeof p.namedPort === 'string') return { kind: 'named', name: p.namedPort, span };
  return undefined;
}
