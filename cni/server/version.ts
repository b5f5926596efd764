// VERSION, and which commands each config version may use. The C plugin answers VERSION
// itself for speed; this is the same answer for clients that ask the daemon.
import { CniCode, CniError } from '../errors.js';
import type { CniCommand } from '../env.js';
import { compareVersions, LATEST_VERSION, SUPPORTED_VERSIONS } from '../versions.js';

export function versionInfo(): { cniVersion: string; supportedVersions: string[] } {
  return { cniVersion: LATEST_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] };
}

/** CHECK arrived in 0.4.0, GC and STATUS in 1.1.0. */
const INTRODUCED: Partial<Record<CniCommand, string>> = { CHECK: '0.4.0', GC: '1.1.0', STATUS: '1.1.0' };

export function assertCommandSupported(command: CniCommand, cniVersion: string): void {
  const since = INTRODUCED[command];
  if (since && compareVersions(cniVersion, since) < 0) {
    throw new CniError(CniCode.incompatibleVersion, `${command} needs cniVersion ${since} or later`, `config has cniVersion ${cniVersion}`);
  }
}
