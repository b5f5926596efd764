// The nftables backend's public surface (see ruleset.ts for the design).

export {
  emitNftables,
  skeletonCommands,
  membershipCommands,
  renderElementDiff,
  formatNftJson,
  countCommands,
  ruleChain,
  cookieHex,
  DEFAULT_TABLE,
  MAP,
  CHAIN,
  type NftOptions,
  type NftCounts,
  type NftEmission,
} from './ruleset.js';
export { emitLinear, type LinearCounts } from './linear.js';
export { NftInterpreter, type PacketOutcome, type SideOutcome, type WalkOutcome } from './interpret.js';
export type { NftDocument, NftCommand } from './schema.js';
export { computeMembership, membershipDiff, diffSize, type Membership, type MembershipDiff } from '../membership.js';
export { computeIdentities, lookupIdentity, type Identity, type IdentityElement, type IdentityTable } from '../identities.js';
export { computeDecisions, lookupDecision, type DecisionElement, type DecisionTable } from '../decisions.js';
