// The daemon's 'cni' request type: decode env and config, route by CNI_COMMAND, and turn
// every outcome into {exitCode, result} for the C plugin to print verbatim.
import { type CniEnv, parseEnv } from '../env.js';
import { CniError } from '../errors.js';
import { parseNetConf, peekVersion } from '../config.js';
import { LATEST_VERSION } from '../versions.js';
import { cmdAdd } from './add.js';
import { cmdCheck } from './check.js';
import type { CniCall, CniContext } from './context.js';
import { cmdDel } from './del.js';
import { cmdGc } from './gc.js';
import { cmdStatus } from './status.js';
import { assertCommandSupported, versionInfo } from './version.js';

export interface CniRequest {
  type: 'cni';
  env: Record<string, string>;
  stdin: string;
}

export interface CniReply {
  exitCode: number;
  /** the plugin's stdout: a result, an error object, or null (DEL/CHECK/GC/STATUS success) */
  result: unknown;
}

const COMMANDS: Record<Exclude<CniEnv['command'], 'VERSION'>, (ctx: CniContext, call: CniCall) => Promise<unknown>> = {
  ADD: cmdAdd,
  DEL: cmdDel,
  CHECK: cmdCheck,
  GC: cmdGc,
  STATUS: cmdStatus,
};

/** CNI error codes above 255 cannot be exit statuses; they exit 1 and keep the code in JSON. */
const INTERNAL_ERROR = 999;

export async function handleCni(ctx: CniContext, request: unknown): Promise<CniReply> {
  const { env: rawEnv, stdin } = coerceRequest(request);
  const version = peekVersion(stdin) ?? LATEST_VERSION;
  try {
    const env = parseEnv(rawEnv);
    if (env.command === 'VERSION') return { exitCode: 0, result: versionInfo() };
    const conf = parseNetConf(stdin);
    assertCommandSupported(env.command, conf.cniVersion);
    const result = await COMMANDS[env.command](ctx, { env, conf, stdin });
    return { exitCode: 0, result: result ?? null };
  } catch (err) {
    const e = err instanceof CniError ? err : new CniError(INTERNAL_ERROR, 'internal error in the policyc daemon', (err as Error)?.stack ?? String(err));
    if (!(err instanceof CniError)) ctx.log(e.message);
    return { exitCode: e.code <= 255 ? e.code : 1, result: e.toJSON(version) };
  }
}

function coerceRequest(request: unknown): { env: Record<string, string>; stdin: string } {
  const r = (request ?? {}) as Partial<CniRequest>;
  const env: Record<string, string> = {};
  if (r.env && typeof r.env === 'object') for (const [k, v] of Object.entries(r.env)) if (typeof v === 'string') env[k] = v;
  return { env, stdin: typeof r.stdin === 'string' ? r.stdin : '' };
}

