// STATUS (1.1.0): can this node take ADDs now? The policy side flips readiness.
import { CniCode, CniError } from '../errors.js';
import type { CniContext } from './context.js';

export async function cmdStatus(ctx: CniContext): Promise<undefined> {
  if (!ctx.isReady()) throw new CniError(CniCode.pluginNotAvailable, 'policyc dataplane is not ready', 'policies are not loaded on this node yet');
  return undefined;
}
