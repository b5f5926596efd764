// Command-line options of the daemon, shared by `policyc daemon` and main.ts (the entry
// tests and the lab spawn). Errors are returned, not thrown. One table of flags: each maps to a
// DaemonOptions key and says how its value is read.
import type { DaemonOptions } from './start.js';

type Kind = 'string' | 'switch' | 'wiring';

interface Flag {
  readonly key: keyof DaemonOptions | 'dropSamples';
  readonly kind: Kind;
}

const FLAGS: Record<string, Flag> = {
  '--state-dir': { key: 'stateDir', kind: 'string' },
  '--socket': { key: 'socketPath', kind: 'string' },
  '--artifacts': { key: 'artifactsDir', kind: 'string' },
  '--spool-dir': { key: 'spoolDir', kind: 'string' },
  '--host-netns': { key: 'hostNetns', kind: 'string' },
  '--wiring': { key: 'wiring', kind: 'wiring' },
  // policy engine hook (dataplane/policy/hook.ts)
  '--policy': { key: 'policy', kind: 'switch' },
  '--require-policy': { key: 'requirePolicy', kind: 'switch' },
  '--node-name': { key: 'nodeName', kind: 'string' },
  '--flush-denied-flows': { key: 'flushDeniedFlows', kind: 'switch' },
  '--linger-subjects': { key: 'lingerSubjects', kind: 'switch' },
  '--drop-samples': { key: 'dropSamples', kind: 'switch' },
};

const SWITCH: Record<string, boolean> = { on: true, true: true, off: false, false: false };

export const DAEMON_USAGE = [
  'policyc daemon [--state-dir DIR (default /var/lib/policyc)] [--socket PATH (default /run/policyc/policyc.sock)] [--artifacts DIR] [--spool-dir DIR]',
  '[--host-netns NAME] [--wiring netlink|ip] [--policy on|off] [--require-policy true|false]',
  '[--node-name NAME (default: env NODE_NAME; unset = cluster-wide policy tables)]',
  '[--flush-denied-flows on|off (default on: delete conntrack entries of established flows a policy change denies)]',
  '[--linger-subjects on|off (default on: node-local tables keep a departed subject identity\'s decision row for 30 s)]',
  '[--drop-samples on|off (default on when policyc-nflog is built)]',
].join(' ');

export interface ParsedDaemonArgs {
  /** Everything but the drop-sample reader, which the caller builds (it needs the netns). */
  readonly options: DaemonOptions;
  /** `--drop-samples`: undefined = the default (on when the helper is built). */
  readonly dropSamples?: boolean;
}

/** `env.NODE_NAME` is the default node name (what a DaemonSet sets from spec.nodeName). */
export function parseDaemonArgs(args: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedDaemonArgs | { error: string } {
  const options: Record<string, string | boolean> = {};
  if (env.NODE_NAME) options.nodeName = env.NODE_NAME;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const [name, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const flag = FLAGS[name];
    if (!flag) return { error: `unknown option ${arg}` };
    const value = inline ?? args[++i];
    if (!value) return { error: `${name} needs a value` };
    if (flag.kind === 'wiring' && value !== 'netlink' && value !== 'ip') return { error: '--wiring takes netlink or ip' };
    if (flag.kind === 'switch') {
      const on = SWITCH[value];
      if (on === undefined) return { error: `${name} takes on|off or true|false` };
      options[flag.key] = on;
      continue;
    }
    options[flag.key] = value;
  }
  const { dropSamples, ...rest } = options;
  return dropSamples === undefined ? { options: rest as unknown as DaemonOptions } : { options: rest as unknown as DaemonOptions, dropSamples: dropSamples as boolean };
}
