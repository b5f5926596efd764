// CNI_* environment as received by the plugin, validated per command (SPEC.md "Parameters").
import { CniCode, CniError } from './errors.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS' | 'VERSION';
const COMMANDS: readonly string[] = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'];

export interface CniEnv {
  command: CniCommand;
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_PATH split on ':' */
  path: string[];
  /** CNI_ARGS as key/value pairs */
  args: Record<string, string>;
  /** The raw variables, passed unchanged to a delegated IPAM plugin. */
  raw: Record<string, string>;
}

// Which variables each command needs. DEL tolerates an empty CNI_NETNS (containerd sends one).
const REQUIRED: Record<CniCommand, string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  GC: [],
  STATUS: [],
  VERSION: [],
};

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function parseEnv(raw: Record<string, string>): CniEnv {
  const command = raw.CNI_COMMAND ?? '';
  if (!COMMANDS.includes(command)) {
    throw new CniError(CniCode.invalidEnvironment, 'unknown or missing CNI_COMMAND', `CNI_COMMAND=${command || '(unset)'}`);
  }
  const cmd = command as CniCommand;
  const missing = REQUIRED[cmd].filter((name) => !raw[name]);
  if (missing.length) {
    throw new CniError(CniCode.invalidEnvironment, `missing required environment variables: ${missing.join(', ')}`, `command ${cmd}`);
  }
  const env: CniEnv = {
    command: cmd,
    containerId: raw.CNI_CONTAINERID ?? '',
    netns: raw.CNI_NETNS ?? '',
    ifname: raw.CNI_IFNAME ?? '',
    path: (raw.CNI_PATH ?? '').split(':').filter(Boolean),
    args: parseCniArgs(raw.CNI_ARGS ?? ''),
    raw,
  };
  const bad: string[] = [];
  if (env.containerId && !CONTAINER_ID.test(env.containerId)) bad.push(`CNI_CONTAINERID=${env.containerId} (letters, digits, _ . - only)`);
  if (env.ifname && !validIfname(env.ifname)) bad.push(`CNI_IFNAME=${env.ifname} (1-15 characters, no / : or whitespace, not . or ..)`);
  if (bad.length) throw new CniError(CniCode.invalidEnvironment, 'invalid environment variables', bad.join('; '));
  return env;
}

function validIfname(name: string): boolean {
  return name.length <= 15 && name !== '.' && name !== '..' && !/[/:\s]/.test(name);
}

/** "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p" -> record */
export function parseCniArgs(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}
