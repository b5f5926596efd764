// Runs another CNI plugin binary (delegated IPAM) the way a runtime would: found via
// CNI_PATH, same stdin, same CNI_* environment with CNI_COMMAND set.
import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { CniCode, CniError } from './errors.js';

export async function findPlugin(type: string, cniPath: string[]): Promise<string> {
  for (const dir of cniPath) {
    const candidate = join(dir, type);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  throw new CniError(CniCode.invalidEnvironment, `plugin "${type}" not found in CNI_PATH`, `CNI_PATH=${cniPath.join(':') || '(unset)'}`);
}

/** Returns the plugin's parsed stdout (or undefined when empty); a failure becomes its CniError. */
export async function execPlugin(binary: string, command: string, env: Record<string, string>, stdin: string): Promise<unknown> {
  const childEnv: Record<string, string> = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const [k, v] of Object.entries(env)) if (k.startsWith('CNI_')) childEnv[k] = v;
  childEnv.CNI_COMMAND = command;
  const { code, stdout, stderr } = await run(binary, childEnv, stdin);
  let parsed: unknown;
  if (stdout.trim()) {
    try {
      parsed = JSON.parse(stdout);
    } catch {
      throw new CniError(CniCode.decodeFailure, `${binary} ${command} printed invalid JSON`, stdout.slice(0, 300));
    }
  }
  if (code !== 0) {
    const e = parsed as { code?: number; msg?: string; details?: string } | undefined;
    throw new CniError(e?.code ?? CniCode.ioFailure, `${binary} ${command} failed: ${e?.msg ?? `exit ${code}`}`, e?.details ?? stderr.trim().slice(0, 300));
  }
  return parsed;
}

function run(binary: string, env: Record<string, string>, stdin: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => reject(new CniError(CniCode.ioFailure, `cannot run ${binary}`, err.message)));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.on('error', () => {}); // a plugin may exit before reading stdin
    child.stdin.end(stdin);
  });
}
