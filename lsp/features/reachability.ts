// policyc/reachability: the reachability matrix over the snapshot's pods, as `policyc reach`
// computes it, for the client to render.

import { computeReach } from '../../compiler/evaluate/reach.js';
import type { Analysis } from '../analysis/analysis.js';
import type { ReachabilityParams, ReachabilityResult } from '../protocol.js';

export function reachabilityMatrix(analysis: Analysis, params: ReachabilityParams): ReachabilityResult {
  const protocol = params?.protocol === 'UDP' || params?.protocol === 'SCTP' ? params.protocol : 'TCP';
  const rawPort = params?.port;
  const port = typeof rawPort === 'number' ? rawPort : typeof rawPort === 'string' && /^\d+$/.test(rawPort.trim()) ? Number(rawPort) : typeof rawPort === 'string' ? rawPort.trim() : '';
  const empty = { port, protocol, pods: [], allowed: [] } as ReachabilityResult;
  if (port === '' || (typeof port === 'number' && (!Number.isInteger(port) || port < 1 || port > 65535))) return { ...empty, error: 'give a port number (1-65535) or a port name' };
  const evaluator = analysis.evaluator;
  if (!evaluator) return { ...empty, error: 'no valid policies in the workspace' };
  if (analysis.compilation.cluster.pods.length === 0) return { ...empty, error: 'no pods: add a cluster snapshot to the workspace or to the setting policyc.snapshotPaths' };
  const matrix = computeReach(evaluator, port, protocol);
  return { port, protocol, pods: matrix.pods, allowed: matrix.allowed };
}
