// compiler/check: validates policy objects as the Kubernetes API server would, and lints
// them, reporting every problem at once as diagnostics. Never throws on any input.
//
//   normalize  -> the object as the API server decodes it (nulls, timestamps, alias cycles)
//   schema     -> types, required fields, enums, unknown fields, CRD limits (./schema/*.json)
//   metadata, networkpolicy, adminnetworkpolicy -> the API server's cross-field rules
//   lints      -> what a valid policy probably did not mean
//   policyset  -> duplicates and priority clashes across objects

import { hasErrors, sortDiagnostics, type Diagnostic } from '../diagnostics/diagnostic.js';
import type { Sourced } from '../model/inputs.js';
import { positionsFor, type ParsedDocument } from '../syntax/documents.js';
import { checkAdminNetworkPolicy } from './adminnetworkpolicy.js';
import { lintAdminNetworkPolicy, lintNetworkPolicy } from './lints.js';
import { checkMetadata } from './metadata.js';
import { checkNetworkPolicy } from './networkpolicy.js';
import { isNormalized, normalize } from './normalize.js';
import { checkDuplicates, checkPriorityClashes } from './policyset.js';
import { Reporter, valueAt } from './reporter.js';
import { checkSchema, type PolicyKindName } from './schema.js';
import { checkUnsupported } from './unsupported.js';
import { isObj } from './values.js';

const KINDS: ReadonlySet<string> = new Set<PolicyKindName>(['NetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy']);

const relocated = new WeakMap<ParsedDocument, ParsedDocument>();

/**
 * The object with positions: a document parsed on the fast path (e.g. a `kind: List` from
 * kubectl) is re-parsed once, and the object taken from the re-parsed value at the same path.
 */
function located(src: Sourced): Sourced {
  if (src.doc.positions) return src;
  let doc = relocated.get(src.doc);
  if (!doc) {
    doc = positionsFor(src.doc);
    relocated.set(src.doc, doc);
  }
  if (!doc.positions) return src;
  return { object: valueAt(doc.value, src.path), doc, path: src.path };
}

/** Checks one NetworkPolicy, AdminNetworkPolicy or BaselineAdminNetworkPolicy object. */
export function checkPolicy(original: Sourced): Diagnostic[] {
  const src = located(original);
  const kind = isObj(src.object) ? src.object.kind : undefined;
  if (typeof kind !== 'string' || !KINDS.has(kind)) return [];
  const policyKind = kind as PolicyKindName;
  const r = new Reporter(src);
  // Checks read the object as the API server decodes it (normalize); most objects already are
  // that: they are read in place, and copied only when unknown fields must be pruned.
  const inPlace = isNormalized(src);
  const object = checkSchema(r, policyKind, inPlace ? src.object : normalize(src), inPlace ? () => normalize(src) : undefined);
  checkMetadata(r, object, policyKind);
  if (policyKind === 'NetworkPolicy') {
    checkNetworkPolicy(r, object);
    lintNetworkPolicy(r, object);
  } else {
    checkAdminNetworkPolicy(r, object, policyKind === 'BaselineAdminNetworkPolicy');
    lintAdminNetworkPolicy(r, object);
    checkUnsupported(r, object);
  }
  return sortDiagnostics(r.diagnostics);
}

/** Checks each object, then what only the set can tell: duplicates (PC2008), equal ANP priorities (PC2009). */
export function checkPolicySet(srcs: readonly Sourced[]): Diagnostic[] {
  const all = srcs.map(located);
  const out = all.flatMap((src) => checkPolicy(src));
  out.push(...checkDuplicates(all), ...checkPriorityClashes(all));
  return sortDiagnostics(out);
}

/** True when no diagnostic is an error (warnings, infos and hints do not make a policy invalid). */
export function isValidPolicy(diags: Diagnostic[]): boolean {
  return !hasErrors(diags);
}
