// ObjectMeta as ValidateObjectMeta checks it on create: a name (or generateName) that is a
// DNS-1123 subdomain, a namespace that is a DNS-1123 label, valid label and annotation keys.

import { checkAnnotations, checkLabels } from './labels.js';
import { isDNS1123Label, isDNS1123Subdomain } from './names.js';
import { describe, type Reporter } from './reporter.js';
import { has, isObj, str } from './values.js';

export function checkMetadata(r: Reporter, object: unknown, kind: string): void {
  if (!isObj(object) || !isObj(object.metadata)) return;
  const metadata = object.metadata;
  if (!has(metadata, 'name') && !has(metadata, 'generateName')) {
    r.report('PC1010', ['metadata'], `missing required field \`name\` in \`metadata\`: every ${kind} needs a name`, { keyOnly: true });
  }
  const name = str(metadata.name);
  if (name !== undefined) {
    const errs = isDNS1123Subdomain(name);
    if (errs.length > 0) r.report('PC1114', ['metadata', 'name'], `invalid ${kind} name ${describe(name)}: ${errs.join('; ')}`);
  }
  const namespace = str(metadata.namespace);
  if (namespace !== undefined) {
    const errs = isDNS1123Label(namespace);
    if (errs.length > 0) r.report('PC1114', ['metadata', 'namespace'], `invalid namespace ${describe(namespace)}: ${errs.join('; ')}`);
  }
  checkLabels(r, ['metadata', 'labels'], metadata.labels);
  checkAnnotations(r, ['metadata', 'annotations'], metadata.annotations);
}
