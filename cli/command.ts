// One file per subcommand under cli/commands/; each exports `command: Command`.
// Commands return an exit status; they print to the streams they are given so tests can
// capture output without spawning a process.

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  cwd: string;
}

export interface Command {
  /** e.g. "compile", or "cni install" for a nested command */
  name: string;
  summary: string;
  usage: string;
  run(args: string[], io: Io): Promise<number>;
}

/** Exit codes shared by all commands. */
export const exitCodes = {
  ok: 0,
  /** Input had errors (diagnostics were printed), or an expectation failed. */
  failed: 1,
  usage: 2,
  internal: 70,
} as const;
