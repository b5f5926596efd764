// The syntax trees of the small languages: label selectors (as `kubectl -l` takes them),
// flows (`policyc explain`, .policytest expectations) and .policytest files.
// Spans in a flow are character offsets into the text that was parsed; inside a .policytest
// file they are absolute offsets into that file.

import type { Span } from '../syntax/source.js';

/** A half-open range of character offsets; a `Span` minus the file. */
export interface TextSpan {
  readonly start: number;
  readonly end: number;
}

/** An error is data: a message and the half-open range of input it is about. */
export interface FlowError {
  message: string;
  start: number;
  end: number;
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export type Operator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/** One requirement of a label selector; `values` is empty for Exists and DoesNotExist. */
export interface Requirement {
  key: string;
  operator: Operator;
  values: string[];
}

/** A label selector: its requirements are ANDed. No requirements selects everything. */
export interface Selector {
  requirements: Requirement[];
}

/** A constraint on a namespace's NAME, from `ns=...`, `namespace in (...)` or `ns/{...}`. */
export interface NamespaceConstraint {
  operator: 'In' | 'NotIn';
  values: string[];
}

export interface PodRef {
  kind: 'pod';
  namespace: string;
  name: string;
  span: TextSpan;
}

/** `ns/*`: every pod of a namespace. */
export interface NamespaceRef {
  kind: 'namespace';
  namespace: string;
  span: TextSpan;
}

export interface IpRef {
  kind: 'ip';
  /** As written (not normalised). */
  address: string;
  /** Absent for a single address. */
  prefixLength?: number;
  family: 4 | 6;
  span: TextSpan;
}

/** Pods chosen by labels; `namespace` (ANDed constraints) is absent when any namespace will do. */
export interface SelectorRef {
  kind: 'selector';
  namespace?: NamespaceConstraint[];
  requirements: Requirement[];
  span: TextSpan;
}

export type EndpointRef = PodRef | NamespaceRef | IpRef | SelectorRef;

/** `from === to` for a single port. */
export interface PortNumberRef {
  kind: 'number';
  from: number;
  to: number;
  span: TextSpan;
}

export interface PortNameRef {
  kind: 'name';
  name: string;
  span: TextSpan;
}

export type PortRef = PortNumberRef | PortNameRef;

export interface FlowAst {
  source: EndpointRef;
  destination: EndpointRef;
  /** Absent: the verdict is asked for any port. */
  port?: PortRef;
  /** TCP unless written. */
  protocol: Protocol;
  span: TextSpan;
}

export interface LoadStatement {
  /** Unquoted and unescaped; relative to the test file unless absolute. */
  path: string;
  /** The quoted path. */
  span: Span;
}

export interface Expectation {
  expect: 'allow' | 'deny';
  /** Spans inside are absolute offsets into the test file. */
  flow: FlowAst;
  /** From the keyword to the end of the flow (a trailing comment excluded). */
  span: Span;
}

export interface PolicyTestAst {
  loads: LoadStatement[];
  expectations: Expectation[];
}
