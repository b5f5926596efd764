// Every policy of the upstream Kubernetes e2e NetworkPolicy truth tables (copied into
// fixtures/upstream-policies.json) is valid, and so are the AdminNetworkPolicy fixtures.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import upstream from './fixtures/upstream-policies.json' with { type: 'json' };
import { checkText, errorsOf } from './fixtures/harness.js';

describe('upstream e2e NetworkPolicy cases are valid', () => {
  it.each(upstream.steps.map((s) => [`${s.case} step ${s.step}`, s.policies] as const))('%s', (name, policies) => {
    const checked = checkText(policies, `${name}.yaml`);
    expect(errorsOf(checked)).toEqual([]);
    expect(checked.diagnostics.filter((d) => d.code.startsWith('PC1'))).toEqual([]);
  });

  it('covers all 48 cases', () => {
    expect(new Set(upstream.steps.map((s) => s.case)).size).toBe(48);
  });
});

describe('AdminNetworkPolicy fixtures are valid', () => {
  it('admin-policies.yaml', () => {
    const text = readFileSync(new URL('./fixtures/admin-policies.yaml', import.meta.url), 'utf8');
    const checked = checkText(text, 'admin-policies.yaml');
    expect(checked.diagnostics.filter((d) => d.severity !== 'info' && d.severity !== 'hint')).toEqual([]);
  });
});
