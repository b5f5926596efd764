// The custom requests and notifications between the policyc language server and its clients,
// declared once: method names plus parameter and result types. The VS Code extension bundles
// this file too. No dependencies, so both sides can import it as is.

/** A request: its method name; the types ride along for `sendRequest`/`onRequest` helpers. */
export interface RequestDecl<P, R> {
  readonly method: string;
  /** Never set: carries the types. */
  readonly _types?: [P, R];
}

export interface NotificationDecl<P> {
  readonly method: string;
  readonly _types?: [P];
}

/** LSP shapes, restated so this file needs no import. */
export interface Position {
  line: number;
  character: number;
}
export interface Range {
  start: Position;
  end: Position;
}
export interface Location {
  uri: string;
  range: Range;
}

// ---- policyc/explainFlow: would this flow pass, and which YAML lines decide

export interface ExplainFlowParams {
  /** `<src> -> <dst> [: <port>[/<proto>]]`, as `policyc explain` takes it. */
  flow: string;
}

export type ExplainRole = 'decided' | 'passed' | 'isolated' | 'candidate';

/** A rule or policy involved in a verdict: where it is, and what it did. */
export interface ExplainLocation extends Location {
  role: ExplainRole;
  direction: 'ingress' | 'egress';
  /** e.g. "NetworkPolicy backend/api ingress[0]: allowed". */
  message: string;
}

export interface FlowVerdict {
  /** The concrete flow: `frontend/web-0 -> backend/api-0 : 8080/TCP`. */
  flow: string;
  allowed: boolean;
  egress: { allowed: boolean; summary: string };
  ingress: { allowed: boolean; summary: string };
  /** Deciding rules first, then isolating policies, Pass rules, and the other candidate rules. */
  locations: ExplainLocation[];
  /** The explanation as `policyc explain` prints it. */
  text: string;
}

export interface ExplainFlowResult {
  /** The flow as written, normalised; absent when it does not parse. */
  flow?: string;
  /** Syntax errors and unknown endpoints; offsets into `params.flow`. */
  errors: Array<{ message: string; start: number; end: number }>;
  /** One per concrete flow the written one stands for (capped at `limit`). */
  verdicts: FlowVerdict[];
  /** Concrete flows in all (more than `verdicts.length` when capped). */
  total: number;
  /** True when every concrete flow is allowed; false when every one is denied; absent when mixed or none. */
  allowed?: boolean;
}

export const explainFlow: RequestDecl<ExplainFlowParams, ExplainFlowResult> = { method: 'policyc/explainFlow' };

// ---- policyc/reachability: the matrix over the snapshot's pods

export interface ReachabilityParams {
  /** A port number or a port name (resolved on each destination pod). */
  port: number | string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
}

export interface ReachabilityResult {
  port: number | string;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  /** `namespace/name`, sorted; rows are sources, columns destinations. */
  pods: string[];
  allowed: boolean[][];
  /** Why there is no matrix (no snapshot, no valid policies). */
  error?: string;
}

export const reachability: RequestDecl<ReachabilityParams, ReachabilityResult> = { method: 'policyc/reachability' };

// ---- policyc/status: sent after each whole-workspace diagnosis (tools and benchmarks wait on it)

export interface StatusParams {
  /** Increases with every diagnosis. */
  generation: number;
  files: number;
  policies: number;
  pods: number;
  diagnostics: number;
  /** Time the diagnosis took, in milliseconds. */
  elapsedMs: number;
}

export const status: NotificationDecl<StatusParams> = { method: 'policyc/status' };

// ---- commands the server puts in code lenses; the client implements them

export interface ShowDetailsArgs {
  title: string;
  items: string[];
}

export const SHOW_DETAILS_COMMAND = 'policyc.showDetails';
