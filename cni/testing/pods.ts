// Shorthands for kernel tests: a pod namespace plus the plugin call that wires it.
import { createNetns, netnsPath } from './netns.js';
import { type PluginRun, runPlugin } from './plugin.js';

export interface TestPod {
  ns: string;
  containerId: string;
  conf: Record<string, unknown>;
  add: PluginRun;
  /** the config with prevResult = ADD's result, for CHECK and DEL */
  withPrev: Record<string, unknown>;
}

let counter = 0;

export async function addPod(nodeNs: string, conf: Record<string, unknown>, opts: { ifname?: string; args?: string; containerId?: string } = {}): Promise<TestPod> {
  const ns = await createNetns('pod');
  const containerId = opts.containerId ?? `ctr-${process.pid}-${++counter}`;
  const add = await runPlugin(nodeNs, { command: 'ADD', containerId, netns: netnsPath(ns), ifname: opts.ifname, args: opts.args, stdin: conf });
  return { ns, containerId, conf, add, withPrev: { ...conf, prevResult: add.json } };
}

export function delPod(nodeNs: string, pod: TestPod, overrides: { netns?: string; stdin?: object } = {}): Promise<PluginRun> {
  return runPlugin(nodeNs, { command: 'DEL', containerId: pod.containerId, netns: overrides.netns ?? netnsPath(pod.ns), stdin: overrides.stdin ?? pod.withPrev });
}
