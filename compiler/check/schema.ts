// Structural validation against the JSON schemas in ./schema (the OpenAPI of each kind), and
// the mapping of ajv's errors to diagnostics:
//   required -> PC1010, type/format -> PC1011, enum -> PC1012, unknown field -> PC1013 (warning);
// any other keyword (ranges, list sizes, exactly-one-of) uses the schema node's `x-code`
// (PC1012 when it has none) and a message built from the node, so the schema stays the one
// place that says which limit exists and which code reports it.
// The validators are ajv's, generated ahead of time (generated/validators.ts, by
// scripts/gen-validators.ts from ./schema and ./formats.ts; see generate-validators.ts for the
// ajv options): nothing compiles a schema at run time.

import type { ErrorObject } from 'ajv';
import type { DiagnosticCode } from '../diagnostics/catalogue.js';
import type { PathSegment } from '../syntax/documents.js';
import * as generated from './generated/validators.js';
import { describe, fieldName, valueAt, type Reporter } from './reporter.js';
import { isObj } from './values.js';

export type PolicyKindName = 'NetworkPolicy' | 'AdminNetworkPolicy' | 'BaselineAdminNetworkPolicy';

/** A generated validator: true when valid, else `errors` holds ajv's error objects. */
export interface Validate {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

const VALIDATORS: Record<PolicyKindName, Validate> = {
  NetworkPolicy: generated.NetworkPolicy as Validate,
  AdminNetworkPolicy: generated.AdminNetworkPolicy as Validate,
  BaselineAdminNetworkPolicy: generated.BaselineAdminNetworkPolicy as Validate,
};

/**
 * Validates the (normalized) object against its kind's schema and reports every problem.
 * Unknown fields are then pruned from the object, as the API server drops them, and the
 * object is validated once more if that changed it: a peer whose only field was unknown is
 * empty once pruned, and is rejected as such. Later checks read the pruned object, which is
 * returned: `object` itself, or, when `copy` is given (`object` is the parsed value and must
 * not change), the copy it returns.
 */
export function checkSchema(r: Reporter, kind: PolicyKindName, object: unknown, copy?: () => unknown): unknown {
  const validate = VALIDATORS[kind];
  if (validate(object)) return object;
  const errors = [...(validate.errors ?? [])];
  reportErrors(r, object, errors);
  const unknown = errors.filter((e) => e.keyword === 'additionalProperties');
  if (unknown.length === 0) return object;
  const pruned = copy ? copy() : object;
  for (const error of unknown) {
    const parent = valueAt(pruned, toPath(pruned, error.instancePath));
    if (isObj(parent)) delete parent[String((error.params as Record<string, unknown>).additionalProperty)];
  }
  if (!validate(pruned)) reportErrors(r, pruned, validate.errors ?? []);
  return pruned;
}

function reportErrors(r: Reporter, object: unknown, errors: readonly ErrorObject[]): void {
  // A value of the wrong type gets one diagnostic, not one per keyword it also fails.
  const wrongType = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  for (const error of errors) {
    if (error.keyword !== 'type' && wrongType.has(error.instancePath) && !CHILD_KEYWORDS.has(error.keyword)) continue;
    reportError(r, object, error);
  }
}

/** Keywords that speak about a child of the value rather than the value itself. */
const CHILD_KEYWORDS = new Set(['required', 'additionalProperties']);

function toPath(object: unknown, pointer: string): PathSegment[] {
  if (pointer === '') return [];
  const path: PathSegment[] = [];
  let node = object;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const step: PathSegment = Array.isArray(node) && /^\d+$/.test(seg) ? Number(seg) : seg;
    path.push(step);
    node = node !== null && typeof node === 'object' ? (node as Record<PathSegment, unknown>)[step] : undefined;
  }
  return path;
}

function codeFor(error: ErrorObject): DiagnosticCode {
  const node = error.parentSchema as Record<string, unknown> | undefined;
  switch (error.keyword) {
    case 'required':
      return 'PC1010';
    case 'type':
    case 'format':
      return 'PC1011';
    case 'additionalProperties':
      return 'PC1013';
    default:
      return typeof node?.['x-code'] === 'string' ? (node['x-code'] as DiagnosticCode) : 'PC1012';
  }
}

function reportError(r: Reporter, object: unknown, error: ErrorObject): void {
  const path = toPath(object, error.instancePath);
  const code = codeFor(error);
  const node = (error.parentSchema ?? {}) as Record<string, unknown>;
  const where = `\`${fieldName(path)}\``;
  const params = error.params as Record<string, unknown>;
  const data = error.data;
  if (typeof node['x-message'] === 'string') {
    r.report(code, path, (node['x-message'] as string).replace('{field}', where), { keyOnly: typeof path[path.length - 1] === 'string' });
    return;
  }
  switch (error.keyword) {
    case 'required': {
      const missing = String(params.missingProperty);
      const child = [...path, missing];
      // A field present with a null value was dropped by normalize(): point at its key.
      const presentAsNull = isObj(valueAt(r.src.object, path)) && Object.prototype.hasOwnProperty.call(valueAt(r.src.object, path), missing);
      if (presentAsNull) r.report(code, child, `${`\`${fieldName(child)}\``} is required and may not be null`, { keyOnly: true });
      else r.report(code, path.length === 0 ? ['kind'] : path, `missing required field \`${missing}\` in ${path.length === 0 ? 'the object' : where}`, { keyOnly: true });
      return;
    }
    case 'additionalProperties': {
      const field = String(params.additionalProperty);
      const known = Object.keys((node.properties ?? {}) as object);
      const suggestion = closest(field, known);
      const hint = suggestion ? `; did you mean \`${suggestion}\`?` : known.length > 0 ? ` (known fields: ${known.join(', ')})` : '';
      r.report(code, [...path, field], `unknown field \`${field}\` in ${path.length === 0 ? 'the object' : where}${hint}`, {
        keyOnly: true,
        extra: suggestion ? { data: { suggestion } } : {},
      });
      return;
    }
    case 'type':
      r.report(code, path, `${where} must be ${article(String(params.type))}, not ${kindOf(data)}${scalar(data)}`);
      return;
    case 'format':
      r.report(code, path, `${where} must be a 32-bit integer, got ${describe(data)}`);
      return;
    case 'enum':
      r.report(code, path, `${where} must be one of ${(params.allowedValues as unknown[]).map(String).join(', ')}; got ${describe(data)}`);
      return;
    case 'minimum':
    case 'maximum':
      r.report(code, path, `${where} must be between ${node.minimum ?? '-inf'} and ${node.maximum ?? 'inf'}, inclusive; got ${describe(data)}`);
      return;
    // A list that is too short or too long is named by its key.
    case 'minItems':
      r.report(code, path, `${where} must have at least ${params.limit} item${params.limit === 1 ? '' : 's'}`, { keyOnly: typeof path[path.length - 1] === 'string' });
      return;
    case 'maxItems':
      r.report(code, path, `${where} must have at most ${params.limit} items, it has ${Array.isArray(data) ? data.length : '?'}`, { keyOnly: typeof path[path.length - 1] === 'string' });
      return;
    case 'maxLength':
      r.report(code, path, `${where} must be at most ${params.limit} characters long, it has ${typeof data === 'string' ? [...data].length : '?'}`);
      return;
    case 'minProperties':
    case 'maxProperties': {
      const choices = Object.keys((node.properties ?? {}) as object).filter((k) => !isEgressOnlyMarker(node, k));
      const set = isObj(data) ? Object.keys(data) : [];
      r.report(code, path, `${where} must set exactly one of ${choices.join(', ')}; it sets ${set.length === 0 ? 'none' : set.join(', ')}`);
      return;
    }
    case 'uniqueItems': {
      const i = Number(params.i);
      const j = Number(params.j);
      const later = Math.max(i, j);
      r.report(code, [...path, later], `${where} may not contain duplicates: item ${later} repeats item ${Math.min(i, j)} (${describe(Array.isArray(data) ? data[later] : undefined)})`);
      return;
    }
    case 'pattern':
      r.report(code, path, `${where} ${describe(data)} does not match ${String(params.pattern)}`);
      return;
    default:
      r.report(code, path, `${where} ${error.message ?? 'is invalid'}`);
  }
}

function isEgressOnlyMarker(node: Record<string, unknown>, key: string): boolean {
  const prop = (node.properties as Record<string, Record<string, unknown>> | undefined)?.[key];
  return typeof prop?.$ref === 'string' && prop.$ref.endsWith('/EgressOnly');
}

function article(type: string): string {
  return type
    .split(',')
    .map((t) => (t === 'object' ? 'a mapping' : t === 'array' ? 'a list' : t === 'integer' ? 'an integer' : `a ${t}`))
    .join(' or ');
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  return `a ${typeof value}`;
}

function scalar(value: unknown): string {
  return value !== null && typeof value !== 'object' && value !== undefined ? ` (${describe(value)})` : '';
}

/** The known field closest to a misspelt one (edit distance <= 2, or same letters ignoring case). */
function closest(field: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    if (candidate.toLowerCase() === field.toLowerCase()) return candidate;
    const d = editDistance(field, candidate, bestDistance);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}
