// Label keys, label values and label selectors, as ValidateLabels / ValidateLabelSelector
// (k8s.io/apimachinery/pkg/apis/meta/v1/validation) check them.

import { fieldName, describe, type Path, type Reporter } from './reporter.js';
import { isQualifiedName, isValidLabelValue } from './names.js';
import { isObj, listOf, str } from './values.js';

/** `metadata.labels` or a selector's `matchLabels`: qualified-name keys, label values. */
export function checkLabels(r: Reporter, path: Path, labels: unknown): void {
  if (!isObj(labels)) return;
  for (const [key, value] of Object.entries(labels)) {
    checkLabelKey(r, [...path, key], key, true);
    const text = str(value);
    if (text === undefined) continue;
    const errs = isValidLabelValue(text);
    if (errs.length > 0) r.report('PC1111', [...path, key], `invalid label value ${describe(text)} for key ${describe(key)} in \`${fieldName(path)}\`: ${errs.join('; ')}`);
  }
}

/** `metadata.annotations`: keys are qualified names (compared lowercased), values are free. */
export function checkAnnotations(r: Reporter, path: Path, annotations: unknown): void {
  if (!isObj(annotations)) return;
  for (const key of Object.keys(annotations)) {
    const errs = isQualifiedName(key.toLowerCase());
    if (errs.length > 0) r.report('PC1111', [...path, key], `invalid annotation key ${describe(key)} in \`${fieldName(path)}\`: ${errs.join('; ')}`, { keyOnly: true });
  }
}

function checkLabelKey(r: Reporter, path: Path, key: string, keyOnly: boolean): void {
  const errs = isQualifiedName(key);
  if (errs.length > 0) r.report('PC1111', path, `invalid label key ${describe(key)} in \`${fieldName(path.slice(0, -1))}\`: ${errs.join('; ')}`, { keyOnly });
}

const VALUE_OPERATORS = new Set(['In', 'NotIn']);
const EXISTENCE_OPERATORS = new Set(['Exists', 'DoesNotExist']);

/** A LabelSelector: matchLabels plus matchExpressions with their operator rules. */
export function checkLabelSelector(r: Reporter, path: Path, selector: unknown): void {
  if (!isObj(selector)) return;
  checkLabels(r, [...path, 'matchLabels'], selector.matchLabels);
  listOf(selector.matchExpressions).forEach((expr, i) => checkRequirement(r, [...path, 'matchExpressions', i], expr));
}

function checkRequirement(r: Reporter, path: Path, expr: unknown): void {
  if (!isObj(expr)) return;
  const operator = str(expr.operator);
  const values = Array.isArray(expr.values) ? expr.values : [];
  const where = fieldName(path);
  if (operator !== undefined) {
    if (VALUE_OPERATORS.has(operator)) {
      if (values.length === 0) {
        const at = Array.isArray(expr.values) ? [...path, 'values'] : [...path, 'operator'];
        r.report('PC1110', at, `\`${where}\`: values must be non-empty when operator is ${operator}`);
      }
    } else if (EXISTENCE_OPERATORS.has(operator)) {
      if (values.length > 0) r.report('PC1110', [...path, 'values'], `\`${where}\`: values must be empty when operator is ${operator}`);
    } else {
      r.report('PC1110', [...path, 'operator'], `\`${where}.operator\`: ${describe(operator)} is not a valid selector operator (In, NotIn, Exists, DoesNotExist)`);
    }
  }
  const key = str(expr.key);
  if (key !== undefined) {
    const errs = isQualifiedName(key);
    if (errs.length > 0) r.report('PC1111', [...path, 'key'], `invalid label key ${describe(key)} in \`${where}.key\`: ${errs.join('; ')}`);
  }
  values.forEach((value, i) => {
    const text = str(value);
    if (text === undefined) return;
    const errs = isValidLabelValue(text);
    if (errs.length > 0) r.report('PC1111', [...path, 'values', i], `invalid label value ${describe(text)} in \`${where}.values[${i}]\`: ${errs.join('; ')}`);
  });
}
