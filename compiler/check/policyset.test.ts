// Checks across objects: duplicates (PC2008) and AdminNetworkPolicy priority clashes (PC2009).

import { describe, expect, it } from 'vitest';
import { collectObjects } from '../model/inputs.js';
import { parseFile } from '../syntax/documents.js';
import { checkPolicy, checkPolicySet, isValidPolicy } from './index.js';
import { adminNetworkPolicy, allOf, checkText, networkPolicy, where } from './fixtures/harness.js';

const np = (name: string, namespace = 'x') => networkPolicy('podSelector: {}', name).replace('namespace: x', `namespace: ${namespace}`);

describe('PC2008 duplicate policy', () => {
  it('reports the second definition and relates the first', () => {
    const checked = checkText(`${np('deny')}\n---\n${np('other')}\n---\n${np('deny')}\n`);
    const dups = checked.diagnostics.filter((d) => d.code === 'PC2008');
    expect(dups.map((d) => where(checked.file, d))).toEqual(['PC2008@20:9']);
    expect(dups[0].severity).toBe('error');
    expect(dups[0].related?.map((rel) => where(checked.file, { ...dups[0], span: rel.span }))).toEqual(['PC2008@4:9']);
    expect(dups[0].message).toContain('x/deny');
  });

  it('finds duplicates across files', () => {
    const docs = [...parseFile({ name: 'a.yaml', text: np('deny') }).documents, ...parseFile({ name: 'b.yaml', text: np('deny') }).documents];
    const dups = checkPolicySet(collectObjects(docs).policies).filter((d) => d.code === 'PC2008');
    expect(dups.map((d) => [d.span?.file, d.related?.[0].span.file])).toEqual([['b.yaml', 'a.yaml']]);
  });

  it('is keyed by kind, namespace and name', () => {
    const text = [np('deny', 'x'), np('deny', 'y'), adminNetworkPolicy('priority: 1\nsubject: {namespaces: {}}', 'deny')].join('\n---\n');
    expect(checkText(text).diagnostics.filter((d) => d.code === 'PC2008')).toEqual([]);
  });

  it('treats cluster-scoped kinds by name only', () => {
    const anp = (priority: number) => adminNetworkPolicy(`priority: ${priority}\nsubject: {namespaces: {}}`, 'same');
    const checked = checkText(`${anp(1)}\n---\n${anp(2)}`);
    expect(allOf(checked)).toEqual(['PC2008@12:9']);
  });
});

describe('PC2009 AdminNetworkPolicy priority clash', () => {
  it('warns on the later policy with the first as related information', () => {
    const anp = (name: string, priority: number) => adminNetworkPolicy(`priority: ${priority}\nsubject: {namespaces: {}}`, name);
    const checked = checkText([anp('a', 10), anp('b', 20), anp('c', 10)].join('\n---\n'));
    const clashes = checked.diagnostics.filter((d) => d.code === 'PC2009');
    expect(clashes.map((d) => where(checked.file, d))).toEqual(['PC2009@22:13']);
    expect(clashes[0].severity).toBe('warning');
    expect(clashes[0].related?.map((rel) => where(checked.file, { ...clashes[0], span: rel.span }))).toEqual(['PC2009@6:13']);
  });
});

describe('checkPolicy / isValidPolicy', () => {
  it('ignores objects that are not policies', () => {
    const docs = parseFile({ name: 'p.yaml', text: 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n' }).documents;
    expect(checkPolicy({ object: docs[0].value, doc: docs[0], path: [] })).toEqual([]);
  });

  it('counts only errors as invalid', () => {
    const warnOnly = checkText(networkPolicy('podSelector: {}\negress:\n- {}'));
    expect(warnOnly.diagnostics.length).toBeGreaterThan(0);
    expect(isValidPolicy(warnOnly.diagnostics)).toBe(true);
    expect(isValidPolicy(checkText(networkPolicy('podSelector: []')).diagnostics)).toBe(false);
  });

  it('locates objects inside a List', () => {
    const text = `apiVersion: v1
kind: List
items:
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: a}
  spec:
    ingress:
    - ports:
      - port: 0
`;
    expect(allOf(checkText(text)).filter((d) => !d.startsWith('PC2010'))).toEqual(['PC1104@10:15']);
  });
});

describe('objects of a kubectl List (parsed without positions at first)', () => {
  it('locates duplicates inside the List', () => {
    const item = `- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: a, namespace: x}`;
    const checked = checkText(`apiVersion: v1\nkind: List\nitems:\n${item}\n${item}\n`);
    expect(allOf(checked)).toEqual(['PC2008@9:20']);
  });
});
