// Sorts parsed documents into the objects policyc understands: policies (with where they came
// from) and the cluster objects a snapshot is made of. `kind: List` and `*List` kinds, as
// `kubectl get -o yaml` prints them, are opened up. Other kinds are ignored.

import { diagnostic, type Diagnostic } from '../diagnostics/diagnostic.js';
import type { ParsedDocument, PathSegment } from '../syntax/documents.js';
import { Cursor, spanAt, spanAtPath } from '../syntax/documents.js';
import type { Namespace, Node, Pod } from './k8s-types.js';
import { POLICY_KINDS } from './k8s-types.js';

/** An object plus the document and path it was read from, so any field can be located. */
export interface Sourced<T = unknown> {
  readonly object: T;
  readonly doc: ParsedDocument;
  /** Path from the document root to the object (`[]`, or `['items', 3]` inside a List). */
  readonly path: readonly PathSegment[];
}

export interface Inputs {
  /** Objects of a policy kind, not yet validated. */
  policies: Sourced[];
  pods: Sourced<Pod>[];
  namespaces: Sourced<Namespace>[];
  nodes: Sourced<Node>[];
  diagnostics: Diagnostic[];
}

const CLUSTER_KINDS = new Set(['Pod', 'Namespace', 'Node']);
const IGNORED_QUIETLY = /^(Service|Deployment|StatefulSet|DaemonSet|ReplicaSet|Job|CronJob|ConfigMap|Secret|ServiceAccount|Endpoints|EndpointSlice|Ingress|CiliumNetworkPolicy|CiliumClusterwideNetworkPolicy|ClusterNetworkPolicy|Event|Role|RoleBinding|ClusterRole|ClusterRoleBinding|PersistentVolumeClaim|CustomResourceDefinition)$/;

export function emptyInputs(): Inputs {
  return { policies: [], pods: [], namespaces: [], nodes: [], diagnostics: [] };
}

export function collectObjects(docs: readonly ParsedDocument[], into: Inputs = emptyInputs()): Inputs {
  for (const doc of docs) visit(doc, doc.value, [], into, 0);
  return into;
}

function visit(doc: ParsedDocument, value: unknown, path: PathSegment[], into: Inputs, depth: number): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    into.diagnostics.push(diagnostic('PC1004', 'document is not a Kubernetes object (a mapping with apiVersion and kind)', spanAt(doc, doc.value, path)));
    return;
  }
  const obj = value as Record<string, unknown>;
  const kind = obj.kind;
  if (typeof kind !== 'string') {
    into.diagnostics.push(diagnostic('PC1004', 'object has no `kind`', spanAt(doc, doc.value, path)));
    return;
  }
  if ((kind === 'List' || kind.endsWith('List')) && Array.isArray(obj.items) && depth === 0) {
    obj.items.forEach((item, i) => visit(doc, item, [...path, 'items', i], into, depth + 1));
    return;
  }
  if (POLICY_KINDS.has(kind)) into.policies.push({ object: obj, doc, path });
  else if (kind === 'Pod') into.pods.push({ object: obj as unknown as Pod, doc, path });
  else if (kind === 'Namespace') into.namespaces.push({ object: obj as unknown as Namespace, doc, path });
  else if (kind === 'Node') into.nodes.push({ object: obj as unknown as Node, doc, path });
  else if (!CLUSTER_KINDS.has(kind) && !IGNORED_QUIETLY.test(kind)) {
    into.diagnostics.push(diagnostic('PC1006', `kind ${kind} is not a policy or cluster object; ignored`, spanAt(doc, obj, ['kind'])));
  }
}

/** The sourced object as a cursor, to locate many of its fields (see Cursor). */
export function objectCursor(src: Sourced): Cursor {
  return Cursor.at(src.doc, src.doc.value, src.path);
}

/** Span of a field of a sourced object. */
export function fieldSpan(src: Sourced, fieldPath: readonly PathSegment[], keyOnly = false) {
  return spanAtPath(src.doc, src.doc.value, src.path, fieldPath, keyOnly);
}
