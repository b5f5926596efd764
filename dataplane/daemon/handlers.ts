// Request routing by `type`. Each subsystem registers its own handler ('cni' here;
// 'artifacts', 'status', 'cluster-state' are added by the policy side) so the server
// itself knows nothing about what requests mean.

export interface DaemonRequest {
  type: string;
  [field: string]: unknown;
}

/** A handler returns the reply body; throwing yields `{error}` to the client. */
export type RequestHandler = (request: DaemonRequest) => Promise<unknown>;

export class HandlerRegistry {
  private readonly handlers = new Map<string, RequestHandler>();

  register(type: string, handler: RequestHandler): void {
    if (this.handlers.has(type)) throw new Error(`a handler for '${type}' is already registered`);
    this.handlers.set(type, handler);
  }

  types(): string[] {
    return [...this.handlers.keys()].sort();
  }

  async dispatch(request: unknown): Promise<unknown> {
    if (typeof request !== 'object' || request === null || typeof (request as DaemonRequest).type !== 'string') {
      return { error: 'request must be a JSON object with a string "type"' };
    }
    const handler = this.handlers.get((request as DaemonRequest).type);
    if (!handler) return { error: `unknown request type '${(request as DaemonRequest).type}'`, known: this.types() };
    try {
      return await handler(request as DaemonRequest);
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  }
}
