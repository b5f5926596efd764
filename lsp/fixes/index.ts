// Quick fixes by diagnostic code. Each fixes what the policy means, not just its spelling.

import type { DiagnosticCode } from '../../compiler/diagnostics/catalogue.js';
import { addDnsEgress } from './dns-egress.js';
import type { Fixer } from './fix.js';
import { mergeOredPeers } from './merge-peers.js';
import { useMetadataNameLabel } from './namespace-name.js';
import { addMissingPolicyType, addPolicyTypes } from './policy-types.js';
import { addProtocol } from './protocol.js';

export type { Fix, FixContext, Fixer } from './fix.js';

export const FIXERS: Partial<Record<DiagnosticCode, Fixer>> = {
  PC2001: mergeOredPeers,
  PC2002: addPolicyTypes,
  PC2003: addMissingPolicyType,
  PC2004: addDnsEgress,
  PC2006: useMetadataNameLabel,
  PC2010: addProtocol,
  PC2011: useMetadataNameLabel,
};
