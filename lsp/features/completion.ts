// Completion by YAML path: keys and enum values from the policy schemas; label keys and values
// from the snapshot and manifests inside matchLabels / matchExpressions.

import { CompletionItemKind, type CompletionItem } from 'vscode-languageserver';
import type { SourceFile } from '../../compiler/syntax/source.js';
import type { LabelIndex, LabelSubject } from '../completion/labels.js';
import { keysAt, ROOTS, valuesAt } from '../completion/schema.js';
import { cursorContext, type CursorContext, type Segment } from '../completion/yaml-context.js';
import { toRange } from '../positions.js';

const API_VERSIONS: Record<string, string> = {
  NetworkPolicy: 'networking.k8s.io/v1',
  AdminNetworkPolicy: 'policy.networking.k8s.io/v1alpha1',
  BaselineAdminNetworkPolicy: 'policy.networking.k8s.io/v1alpha1',
};

function subjectOf(path: readonly Segment[], at: number): LabelSubject {
  const owner = path[at - 1];
  if (owner === 'namespaceSelector' || owner === 'namespaces') return 'namespace';
  if (owner === 'nodes') return 'node';
  return 'pod';
}

/** The `key:` of the matchExpressions item the cursor is in. */
function expressionKey(c: CursorContext): string | undefined {
  for (let j = c.line; j >= 0 && j > c.line - 12; j--) {
    const l = c.lines[j];
    if (l.key === 'key' && l.value) return l.value.replace(/^["']|["']$/g, '');
    if (l.key === 'matchExpressions') break;
  }
  return undefined;
}

export function completionsAt(file: SourceFile, offset: number, labels: LabelIndex): CompletionItem[] {
  const c = cursorContext(file.text, offset);
  const range = toRange(file, c.prefixStart, offset);
  const item = (label: string, kind: CompletionItemKind, insert: string, detail?: string, documentation?: string): CompletionItem => ({
    label,
    kind,
    detail,
    documentation: documentation ? { kind: 'markdown', value: documentation } : undefined,
    textEdit: { range, newText: insert },
    filterText: label,
  });
  const path = c.path;
  const last = path[path.length - 1];

  // Labels first: they are what the schema cannot know.
  const ml = path.lastIndexOf('matchLabels');
  if (ml >= 0) {
    const subject = subjectOf(path, ml);
    if (c.mode === 'key' && ml === path.length - 1) {
      return labels.keys(subject).filter((k) => !c.siblings.includes(k.key)).map((k) => item(k.key, CompletionItemKind.Property, `${k.key}: `, `${subject} label · ${k.count} ${subject}s`));
    }
    if (c.mode === 'value' && ml === path.length - 2 && typeof last === 'string') {
      return labels.valuesOf(subject, last).map((v) => item(v.value, CompletionItemKind.Value, v.value, `${subject}s with ${last}=${v.value}: ${v.count}`));
    }
  }
  const me = path.lastIndexOf('matchExpressions');
  if (me >= 0 && typeof path[me + 1] === 'number') {
    const subject = subjectOf(path, me);
    const field = path[me + 2];
    if (c.mode === 'value' && field === 'key' && path.length === me + 3) {
      return labels.keys(subject).map((k) => item(k.key, CompletionItemKind.Property, k.key, `${subject} label · ${k.count} ${subject}s`));
    }
    if (field === 'values' && ((c.mode === 'value' && path.length === me + 3) || (c.mode === 'key' && c.inList && path.length === me + 4))) {
      const key = expressionKey(c);
      if (key) return labels.valuesOf(subject, key).map((v) => item(v.value, CompletionItemKind.Value, v.value, `${subject}s with ${key}=${v.value}: ${v.count}`));
    }
  }

  const kind = c.kind && ROOTS[c.kind] ? c.kind : undefined;
  if (c.mode === 'value' && path.length === 1 && last === 'kind') {
    return Object.keys(ROOTS).map((k) => item(k, CompletionItemKind.Class, k, API_VERSIONS[k]));
  }
  if (c.mode === 'value' && path.length === 1 && last === 'apiVersion') {
    const versions = kind ? [API_VERSIONS[kind]] : [...new Set(Object.values(API_VERSIONS))];
    return versions.map((v) => item(v, CompletionItemKind.Value, v));
  }
  const schemaKind = kind ?? 'NetworkPolicy';
  if (!kind && path.length > 0) return [];
  if (c.mode === 'value' || c.inList) {
    const values = valuesAt(schemaKind, path);
    if (values.length > 0 || c.mode === 'value') return values.map((v) => item(v, CompletionItemKind.EnumMember, v));
  }
  return keysAt(schemaKind, path)
    .filter((k) => !c.siblings.includes(k.key))
    .map((k) => item(k.key, CompletionItemKind.Property, k.type === 'object' || k.type === 'array' ? `${k.key}:` : `${k.key}: `, k.type, k.description));
}
