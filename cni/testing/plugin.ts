// Runs the plugin binary the way a runtime does (fork+exec with CNI_* env and stdin),
// inside the test's "node" namespace via nsenter, and builds it first when needed.
import { execFile, spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const cniDir = join(dirname(fileURLToPath(import.meta.url)), '..');
export const PLUGIN_BIN = join(cniDir, 'bin', 'policyc-cni');
export const REFERENCE_PLUGINS = '/usr/lib/cni';

/** Runs cni/build.sh when a C program in cni/bin/ is missing or older than its source. */
export async function ensurePluginBuilt(): Promise<string> {
  for (const prog of ['policyc-cni', 'policyc-wire']) {
    const [bin, src] = await Promise.all([stat(join(cniDir, 'bin', prog)).catch(() => undefined), stat(join(cniDir, 'plugin', `${prog}.c`))]);
    if (!bin || bin.mtimeMs < src.mtimeMs) {
      await promisify(execFile)('bash', [join(cniDir, 'build.sh')]);
      break;
    }
  }
  return PLUGIN_BIN;
}

export interface PluginRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed, when it is JSON */
  json?: any;
}

export interface PluginCall {
  command: string;
  containerId?: string;
  netns?: string;
  ifname?: string;
  cniPath?: string;
  args?: string;
  /** extra or overriding variables (value undefined removes one) */
  env?: Record<string, string | undefined>;
  stdin: string | object;
}

export function runPlugin(nodeNs: string | undefined, call: PluginCall, binary = PLUGIN_BIN): Promise<PluginRun> {
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    CNI_COMMAND: call.command,
    CNI_CONTAINERID: call.containerId,
    CNI_NETNS: call.netns,
    CNI_IFNAME: call.ifname ?? 'eth0',
    CNI_PATH: call.cniPath ?? REFERENCE_PLUGINS,
    CNI_ARGS: call.args,
    ...call.env,
  };
  const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;
  const [cmd, argv] = nodeNs ? ['nsenter', [`--net=/run/netns/${nodeNs}`, binary]] : [binary, []];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env: clean });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: unknown;
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined;
      } catch {}
      resolve({ code: code ?? -1, stdout, stderr, json });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(typeof call.stdin === 'string' ? call.stdin : JSON.stringify(call.stdin));
  });
}
