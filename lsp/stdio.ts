// `policyc lsp --stdio`: the server over stdin/stdout. stdout carries the protocol and
// nothing else: the protocol writer keeps the real stdout, and any other write to stdout
// (a stray console.log in a dependency) goes to stderr instead.

import { Writable } from 'node:stream';
import { format } from 'node:util';
import { createConnection, StreamMessageReader, StreamMessageWriter, type Connection } from 'vscode-languageserver/node.js';
import { startServer } from './server.js';

export function startStdioServer(): Connection {
  const stdout = process.stdout;
  const realWrite = stdout.write.bind(stdout) as (chunk: unknown, encoding?: unknown, cb?: unknown) => boolean;
  const protocolOut = new Writable({
    write(chunk, encoding, callback) {
      realWrite(chunk, encoding, callback);
    },
  });
  stdout.write = ((chunk: unknown, encoding?: unknown, cb?: unknown) => process.stderr.write(chunk as string, encoding as BufferEncoding, cb as () => void)) as typeof stdout.write;
  const toStderr = (...args: unknown[]) => {
    process.stderr.write(`${format(...args)}\n`);
  };
  console.log = toStderr;
  console.info = toStderr;
  console.debug = toStderr;
  console.warn = toStderr;
  const connection = createConnection(new StreamMessageReader(process.stdin), new StreamMessageWriter(protocolOut));
  startServer(connection);
  process.stdin.on('end', () => process.exit(0));
  connection.listen();
  return connection;
}
