// Name syntaxes of k8s.io/apimachinery/pkg/util/validation.

import { describe, expect, it } from 'vitest';
import { isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isValidLabelValue, isValidPortName } from './names.js';

const valid = (errs: string[]) => errs.length === 0;

describe('name syntaxes', () => {
  it.each([
    ['app', true], ['app.kubernetes.io/name', true], ['kubernetes.io/metadata.name', true], ['A_b.C-1', true], ['a'.repeat(63), true],
    ['', false], ['a'.repeat(64), false], ['-app', false], ['app-', false], ['a/b/c', false], ['/app', false], ['Example.com/app', false],
    ['example.com/', false], ['my app', false], [`${'a'.repeat(254)}/x`, false],
  ])('qualified name %j -> %s', (value, expected) => {
    expect(valid(isQualifiedName(value))).toBe(expected);
  });

  it.each([
    ['', true], ['prod', true], ['v1.2_3-x', true], ['a'.repeat(63), true],
    ['a'.repeat(64), false], ['-x', false], ['x.', false], ['a b', false], ['a/b', false],
  ])('label value %j -> %s', (value, expected) => {
    expect(valid(isValidLabelValue(value))).toBe(expected);
  });

  it.each([
    ['http', true], ['h2c', true], ['a-b-c', true], ['serve-80-tcp', true], ['a'.repeat(15), true],
    ['HTTP', false], ['80', false], ['', false], ['a--b', false], ['-a', false], ['a-', false], ['a'.repeat(16), false], ['a_b', false],
  ])('port name %j -> %s', (value, expected) => {
    expect(valid(isValidPortName(value))).toBe(expected);
  });

  it.each([
    ['a', true], ['a.b-c', true], ['0.1', true], ['a'.repeat(253), true],
    ['A', false], ['a_b', false], ['a.', false], ['.a', false], ['a..b', false], ['a'.repeat(254), false],
  ])('DNS-1123 subdomain %j -> %s', (value, expected) => {
    expect(valid(isDNS1123Subdomain(value))).toBe(expected);
  });

  it.each([['kube-system', true], ['x', true], ['a.b', false], ['a'.repeat(64), false]])('DNS-1123 label %j -> %s', (value, expected) => {
    expect(valid(isDNS1123Label(value))).toBe(expected);
  });
});
