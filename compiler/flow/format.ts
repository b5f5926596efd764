// Canonical printing. `parseFlow(formatFlow(f))` gives back `f` (spans aside) for every flow the
// parser produces, and formatting is idempotent.

import type { EndpointRef, FlowAst, PortRef, Requirement, Selector } from './ast.js';
import { looksLikeIPv4 } from './names.js';

/** kubectl's spelling: `k=v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`; order kept. */
export function formatRequirement(r: Requirement): string {
  switch (r.operator) {
    case 'Exists':
      return r.key;
    case 'DoesNotExist':
      return `!${r.key}`;
    case 'In':
      return r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(',')})`;
    case 'NotIn':
      return r.values.length === 1 ? `${r.key}!=${r.values[0]}` : `${r.key} notin (${r.values.join(',')})`;
  }
}

export function formatSelector(selector: Selector): string {
  return selector.requirements.map(formatRequirement).join(',');
}

export function formatEndpoint(endpoint: EndpointRef): string {
  switch (endpoint.kind) {
    case 'pod':
      return `${endpoint.namespace}/${endpoint.name}`;
    case 'namespace':
      return `${endpoint.namespace}/*`;
    case 'ip':
      return endpoint.prefixLength === undefined ? endpoint.address : `${endpoint.address}/${endpoint.prefixLength}`;
    case 'selector': {
      const namespace = endpoint.namespace ?? [];
      const { requirements } = endpoint;
      const text = [
        ...namespace.map((c) => formatRequirement({ key: 'ns', operator: c.operator, values: c.values })),
        ...requirements.map(formatRequirement),
      ].join(',');
      // Bare, `{}` would be nothing and a lone `a/b` or `10.0.0.1` would read as a pod or address.
      const lone = requirements.length === 1 && requirements[0].operator === 'Exists' ? requirements[0].key : undefined;
      const braces =
        namespace.length === 0 && (requirements.length === 0 || (lone !== undefined && (lone.includes('/') || looksLikeIPv4(lone))));
      return braces ? `{${text}}` : text;
    }
  }
}

export function formatPort(port: PortRef): string {
  if (port.kind === 'name') return port.name;
  return port.from === port.to ? `${port.from}` : `${port.from}-${port.to}`;
}

// `src -> dst : port/PROTO`; no port part for any TCP port, `: */UDP` for any UDP port.
export function formatFlow(flow: FlowAst): string {
  const head = `${formatEndpoint(flow.source)} -> ${formatEndpoint(flow.destination)}`;
  if (flow.port) return `${head} : ${formatPort(flow.port)}/${flow.protocol}`;
  return flow.protocol === 'TCP' ? head : `${head} : */${flow.protocol}`;
}
