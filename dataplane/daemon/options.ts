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
  '--policy': 'policy', // policy engine hook: on|off
  '--require-policy': 'requirePolicy', // policy engine hook: true|false
};

export const DAEMON_USAGE =
  'policyc daemon [--state-dir DIR (default /var/lib/policyc)] [--socket PATH (default /run/policyc/policyc.sock)] [--artifacts DIR] [--spool-dir DIR] [--host-netns NAME] [--wiring netlink|ip] [--policy on|off] [--require-policy true|false]';

export function parseDaemonArgs(args: string[]): { options: DaemonOptions } | { error: string } {
  const options: Record<string, string | boolean> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const key = FLAGS[flag];
    if (!key) return { error: `unknown option ${arg}` };
    const value = inline ?? args[++i];
    if (!value) return { error: `${flag} needs a value` };
    if (key === 'wiring' && value !== 'netlink' && value !== 'ip') return { error: '--wiring takes netlink or ip' };
    // policy engine hook: the two boolean flags
    if (key === 'policy' || key === 'requirePolicy') {
      const on = { on: true, true: true, off: false, false: false }[value];
      if (on === undefined) return { error: `${flag} takes on|off or true|false` };
      options[key] = on;
      continue;
    }
    options[key] = value;
  }
  return { options: options as unknown as DaemonOptions };
}
