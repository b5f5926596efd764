// Command-line options of the daemon, shared by `policyc daemon` and main.ts (the entry
// tests and the lab spawn). Errors are returned, not thrown.
import type { DaemonOptions } from './start.js';

const FLAGS: Record<string, keyof DaemonOptions> = {
  '--state-dir': 'stateDir',
  '--socket': 'socketPath',
  '--artifacts': 'artifactsDir',
  '--spool-dir': 'spoolDir',
  '--host-netns': 'hostNetns',
  '--wiring': 'wiring',
};

export const DAEMON_USAGE =
  'policyc daemon [--state-dir DIR (default /var/lib/policyc)] [--socket PATH (default /run/policyc/policyc.sock)] [--artifacts DIR] [--spool-dir DIR] [--host-netns NAME] [--wiring netlink|ip]';

export function parseDaemonArgs(args: string[]): { options: DaemonOptions } | { error: string } {
  const options: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const key = FLAGS[flag];
    if (!key) return { error: `unknown option ${arg}` };
    const value = inline ?? args[++i];
    if (!value) return { error: `${flag} needs a value` };
    if (key === 'wiring' && value !== 'netlink' && value !== 'ip') return { error: '--wiring takes netlink or ip' };
    options[key] = value;
  }
  return { options: options as DaemonOptions };
}
