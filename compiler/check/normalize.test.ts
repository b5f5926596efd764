import { describe, expect, it } from 'vitest';
import { collectObjects } from '../model/inputs.js';
import { parseFile } from '../syntax/documents.js';
import { isNormalized, normalize } from './normalize.js';

// Checks read a policy in place when isNormalized says normalize() would not change it;
// otherwise (null fields, timestamps, aliases, binaries) they read normalize()'s copy.
describe('isNormalized', () => {
  const cases: Array<[string, boolean]> = [
    ['kind: NetworkPolicy\nmetadata: {name: a, labels: {x: "1"}}\nspec:\n  podSelector: {}\n  ingress:\n  - from: [{podSelector: {}}]\n', true],
    ['kind: NetworkPolicy\nmetadata: {name: a}\nspec:\n  podSelector:\n  ingress: []\n', false],
    ['kind: NetworkPolicy\nmetadata: {name: a, labels: {x: null}}\nspec: {podSelector: {}}\n', false],
    ['kind: NetworkPolicy\nmetadata: {name: a, creationTimestamp: 2024-01-02T03:04:05Z}\nspec: {podSelector: {}}\n', false],
    ['kind: NetworkPolicy\nmetadata: {name: a}\nspec:\n  podSelector: &s {}\n  ingress:\n  - from: [{podSelector: *s}]\n', false],
    ['kind: NetworkPolicy\nmetadata: {name: a}\nspec: {podSelector: {}, ingress: [null]}\n', true],
    ['kind: NetworkPolicy\nmetadata: {name: a, data: !!binary aGk=}\nspec: {podSelector: {}}\n', false],
    ['kind: NetworkPolicy\nmetadata: {name: a, "&": b}\nspec: {podSelector: {}}\n', true],
  ];
  for (const [text, expected] of cases) {
    it(text.split('\n').find((l) => l.includes('null') || l.includes('&') || l.includes('!!') || l.includes('Timestamp') || l.includes('podSelector:\n')) ?? text.slice(0, 40), () => {
      const [src] = collectObjects(parseFile({ name: 'p.yaml', text }).documents).policies;
      expect(isNormalized(src)).toBe(expected);
      // (A node reached twice is copied to be safe, although normalize() leaves it equal.)
      if (expected) expect(normalize(src)).toStrictEqual(src.object);
    });
  }
});
