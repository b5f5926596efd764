// Bad input never takes the server down: every handler runs through `guard`, which logs the
// error (over the protocol, never to stdout) and answers with a harmless default.

import type { Connection } from 'vscode-languageserver';

export function guard<P extends unknown[], R>(connection: Connection, name: string, fallback: R, handler: (...args: P) => R | Promise<R>): (...args: P) => Promise<R> {
  return async (...args: P) => {
    try {
      return await handler(...args);
    } catch (err) {
      try {
        connection.console.error(`policyc: ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      } catch {
        // the connection itself is gone
      }
      return fallback;
    }
  };
}
