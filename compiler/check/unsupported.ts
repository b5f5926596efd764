// Valid API fields policyc cannot enforce yet. Ignoring them would fail open (a Deny rule
// whose peers were dropped denies nothing), so they are errors until the dataplane has them.

import type { Reporter } from './reporter.js';
import { isObj } from './values.js';

export function checkUnsupported(r: Reporter, object: unknown): void {
  if (!isObj(object) || !isObj(object.spec)) return;
  const egress = object.spec.egress;
  if (!Array.isArray(egress)) return;
  egress.forEach((rule, i) => {
    if (!isObj(rule) || !Array.isArray(rule.to)) return;
    rule.to.forEach((peer, j) => {
      if (isObj(peer) && peer.domainNames !== undefined) {
        r.report('PC4003', ['spec', 'egress', i, 'to', j, 'domainNames'], '`domainNames` peers (FQDN policy) are not supported yet: policyc refuses the policy rather than enforce it without them', { keyOnly: true });
      }
    });
  });
}
