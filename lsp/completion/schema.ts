// Walks the policy schemas the checker validates with (compiler/check/schema/*.json) by a
// YAML path: which keys a mapping may have, which values a field takes.

import meta from '../../compiler/check/schema/meta.schema.json' with { type: 'json' };
import networkPolicy from '../../compiler/check/schema/networkpolicy.schema.json' with { type: 'json' };
import adminNetworkPolicy from '../../compiler/check/schema/adminnetworkpolicy.schema.json' with { type: 'json' };
import baselineAdminNetworkPolicy from '../../compiler/check/schema/baselineadminnetworkpolicy.schema.json' with { type: 'json' };
import type { Segment } from './yaml-context.js';

interface SchemaNode {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  description?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  oneOf?: SchemaNode[];
  anyOf?: SchemaNode[];
  allOf?: SchemaNode[];
}

interface Located {
  node: SchemaNode;
  /** The file the node is in, for resolving `#/...` references. */
  file: SchemaFile;
}

type SchemaFile = { $id: string } & Record<string, unknown>;

const FILES = new Map<string, SchemaFile>(
  [meta, networkPolicy, adminNetworkPolicy, baselineAdminNetworkPolicy].map((s) => [(s as SchemaFile).$id, s as SchemaFile]),
);

export const ROOTS: Record<string, SchemaFile> = {
  NetworkPolicy: networkPolicy as SchemaFile,
  AdminNetworkPolicy: adminNetworkPolicy as SchemaFile,
  BaselineAdminNetworkPolicy: baselineAdminNetworkPolicy as SchemaFile,
};

/** Values the schemas leave open but the API server fixes. */
const EXTRA_ENUMS: Record<string, string[]> = {
  operator: ['In', 'NotIn', 'Exists', 'DoesNotExist'],
};

function deref(loc: Located, depth = 0): Located {
  const ref = loc.node.$ref;
  if (!ref || depth > 16) return loc;
  const [fileId, pointer] = ref.split('#');
  const file = fileId ? FILES.get(fileId) : loc.file;
  if (!file) return loc;
  let node: unknown = file;
  for (const part of (pointer ?? '').split('/').filter(Boolean)) node = (node as Record<string, unknown>)?.[part];
  if (!node || typeof node !== 'object') return loc;
  return deref({ node: node as SchemaNode, file }, depth + 1);
}

/** A node and the alternatives it combines, dereferenced. */
function variants(loc: Located): Located[] {
  const l = deref(loc);
  const subs = [...(l.node.oneOf ?? []), ...(l.node.anyOf ?? []), ...(l.node.allOf ?? [])];
  return [l, ...subs.flatMap((s) => variants({ node: s, file: l.file }))];
}

export function schemaAt(kind: string, path: readonly Segment[]): Located[] {
  const root = ROOTS[kind];
  if (!root) return [];
  let current: Located[] = [{ node: root as SchemaNode, file: root }];
  for (const seg of path) {
    const next: Located[] = [];
    for (const loc of current.flatMap(variants)) {
      if (typeof seg === 'number') {
        if (loc.node.items) next.push({ node: loc.node.items, file: loc.file });
      } else if (loc.node.properties?.[seg]) {
        next.push({ node: loc.node.properties[seg], file: loc.file });
      }
    }
    current = next;
    if (current.length === 0) break;
  }
  return current.flatMap(variants);
}

export interface KeyInfo {
  key: string;
  description?: string;
  /** 'object' | 'array' | scalar type */
  type: string;
}

export function keysAt(kind: string, path: readonly Segment[]): KeyInfo[] {
  const out = new Map<string, KeyInfo>();
  for (const loc of schemaAt(kind, path)) {
    for (const [key, child] of Object.entries(loc.node.properties ?? {})) {
      if (out.has(key)) continue;
      const c = variants({ node: child, file: loc.file });
      const types = c.flatMap((v) => (Array.isArray(v.node.type) ? v.node.type : v.node.type ? [v.node.type] : []));
      const type = types.includes('object') ? 'object' : types.includes('array') ? 'array' : (types[0] ?? 'object');
      out.set(key, { key, description: c.find((v) => v.node.description)?.node.description, type });
    }
  }
  return [...out.values()];
}

/** Enum values of the field at `path` (or of its items when it is a list). */
export function valuesAt(kind: string, path: readonly Segment[]): string[] {
  const last = path[path.length - 1];
  const out = new Set<string>();
  for (const loc of schemaAt(kind, path)) {
    for (const v of loc.node.enum ?? []) out.add(String(v));
    if (loc.node.items) for (const item of variants({ node: loc.node.items, file: loc.file })) for (const v of item.node.enum ?? []) out.add(String(v));
  }
  if (typeof last === 'string' && EXTRA_ENUMS[last]) for (const v of EXTRA_ENUMS[last]) out.add(v);
  return [...out];
}
