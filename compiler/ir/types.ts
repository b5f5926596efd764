// The one intermediate representation every policy kind is lowered into.
//
//   tiers: admin (AdminNetworkPolicy, by priority; Allow/Deny/Pass, first match wins)
//       -> networkpolicy (NetworkPolicy: union of allows; deny once a policy isolates the pod)
//       -> baseline (BaselineAdminNetworkPolicy; Allow/Deny, first match wins)
//       -> default allow
//
// Rules name endpoints through groups (a namespace selector plus a pod selector). Which pods
// are in a group is data that changes with the cluster; the rules do not. Every rule keeps a
// stable id and the source spans it came from, through every optimization.

import type { Span } from '../syntax/source.js';
import type { Protocol, PolicyKind } from '../model/k8s-types.js';
import type { Selector } from './selector.js';

export type Direction = 'ingress' | 'egress';
export type Tier = 'admin' | 'networkpolicy' | 'baseline';
export type Action = 'allow' | 'deny' | 'pass';

export const TIER_ORDER: readonly Tier[] = ['admin', 'networkpolicy', 'baseline'];
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

export type NamespaceMatch =
  /** NetworkPolicy peers without namespaceSelector, and subjects: the policy's own namespace. */
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'selector'; readonly selector: Selector };

/** A set of pods defined by selectors, shared by every rule that names the same pods. */
export interface Group {
  /** `g` + a hash of the canonical selectors: stable across compiles and file layouts. */
  readonly id: string;
  readonly namespaces: NamespaceMatch;
  readonly pods: Selector;
}

export type Peer =
  | { readonly kind: 'pods'; readonly group: string; readonly span: Span }
  /** ipBlock / networks; CIDR texts normalised (host bits cleared). */
  | { readonly kind: 'cidr'; readonly cidr: string; readonly except: readonly string[]; readonly span: Span }
  /** AdminNetworkPolicy egress `nodes`: nodes whose labels match. */
  | { readonly kind: 'nodes'; readonly selector: Selector; readonly span: Span }
  /** `from`/`to` omitted or empty: every source or destination. */
  | { readonly kind: 'any' };

export type PortMatch =
  | { readonly kind: 'range'; readonly protocol: Protocol; readonly from: number; readonly to: number; readonly span?: Span }
  /** Resolved on the destination pod. No protocol (ANP namedPort): the container port's own. */
  | { readonly kind: 'named'; readonly protocol?: Protocol; readonly name: string; readonly span?: Span }
  | { readonly kind: 'all'; readonly protocol: Protocol; readonly span?: Span };

export interface PolicyRef {
  readonly kind: PolicyKind;
  readonly namespace?: string;
  readonly name: string;
}

/** Room for L7 (CiliumNetworkPolicy HTTP rules): an allow whose traffic goes to the proxy. */
export interface HttpRule {
  readonly method?: string;
  readonly path?: string;
  readonly host?: string;
  readonly headers?: readonly string[];
  readonly span?: Span;
}

export interface Rule {
  /** Stable: derived from policy kind, namespace/name and the rule's path, not file positions. */
  readonly id: string;
  /** A small stable integer for kernel maps and counters (hash of the id, collision-free in a program). */
  cookie: number;
  readonly policy: PolicyRef;
  readonly tier: Tier;
  /** AdminNetworkPolicy priority (lower first); 0 elsewhere. */
  readonly priority: number;
  /** Position of the rule in its policy's list for its direction (first match in admin tiers). */
  readonly index: number;
  readonly name?: string;
  readonly direction: Direction;
  readonly action: Action;
  /** The pods the rule protects (ingress: destination; egress: source). */
  readonly subject: string;
  /** OR of peers. */
  readonly peers: readonly Peer[];
  /** OR of port matches; undefined = every port of every protocol. */
  readonly ports?: readonly PortMatch[];
  readonly l7?: readonly HttpRule[];
  /** Where the rule came from; the optimizer merges these, never drops them. */
  origins: Span[];
}

export interface Policy {
  readonly ref: PolicyRef;
  readonly tier: Tier;
  readonly priority: number;
  readonly subject: string;
  /** NetworkPolicy: the directions it isolates (policyTypes after defaulting). */
  readonly isolates: readonly Direction[];
  readonly span: Span;
  /** Span of the subject selector (podSelector / subject). */
  readonly subjectSpan: Span;
  /** Span of policyTypes, or of the spec when defaulted. */
  readonly policyTypesSpan: Span;
  readonly ruleIds: readonly string[];
}

export interface Program {
  readonly formatVersion: 1;
  readonly groups: readonly Group[];
  /** Ordered: tier, priority, namespace, name. */
  readonly policies: readonly Policy[];
  /** Ordered for evaluation: tier, priority, policy, direction, index. */
  readonly rules: readonly Rule[];
}

export function policyLabel(ref: PolicyRef): string {
  const kind = ref.kind === 'NetworkPolicy' ? 'NetworkPolicy' : ref.kind;
  return ref.namespace ? `${kind} ${ref.namespace}/${ref.name}` : `${kind} ${ref.name}`;
}
