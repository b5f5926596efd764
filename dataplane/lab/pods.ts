// Pods: a netns each, wired by OUR CNI plugin exactly as a runtime does it (exec of
// cni/bin/policyc-cni inside the node netns with the CNI_* environment and the network
// configuration on stdin, runtimeConfig.ips = the pod's IPs from the snapshot), and one small
// server process per pod (lab-helper serve) for the pod's container ports.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ensureHelper } from './helper.js';
import { netnsPath } from './names.js';
import { spawnDetached, stopProcess } from './processes.js';
import { run } from './run.js';
import type { LabNode, LabPod } from './state.js';
import { addNetns, delNetns } from './topology.js';

export const CNI_IFNAME = 'eth0';

/** The node's pod CIDRs, IPv4 first: the families its pods can have. */
export function podCidrsOf(node: LabNode): string[] {
  return [node.podCidr, node.podCidr6].filter((c): c is string => !!c);
}

/** The network configuration list the lab writes for a node (what a runtime reads from /etc/cni/net.d). */
export function conflistFor(lab: string, node: LabNode): Record<string, unknown> {
  const cidrs = podCidrsOf(node);
  return {
    cniVersion: '1.0.0',
    name: `policyc-lab-${lab}`,
    plugins: [
      {
        type: 'policyc-cni',
        podCIDR: cidrs.length === 1 ? cidrs[0] : cidrs,
        daemonSocket: node.socket,
        spoolDir: node.spoolDir,
        overlay: 'vxlan',
        mtu: 1450,
        capabilities: { ips: true },
      },
    ],
  };
}

/** The addresses a pod should have (from the snapshot); none = whatever the node's families give. */
export interface WantedIps {
  ip?: string;
  ip6?: string;
}

/**
 * What libcni puts on the plugin's stdin: the plugin's entry + name + cniVersion + runtimeConfig
 * for declared capabilities. `ips` holds exactly the snapshot's addresses: the plugin gives a pod
 * only the families it is asked for, so an IPv6-only pod on a dual-stack node stays IPv6-only.
 */
function pluginStdin(node: LabNode, want: WantedIps): string {
  const list = JSON.parse(readFileSync(node.conflist, 'utf8')) as { cniVersion: string; name: string; plugins: Array<Record<string, unknown>> };
  const plugin = { ...list.plugins[0]!, name: list.name, cniVersion: list.cniVersion } as Record<string, unknown>;
  const caps = (plugin.capabilities ?? {}) as Record<string, boolean>;
  delete plugin.capabilities;
  const withPrefix = (ip: string | undefined, cidr: string | undefined) => (ip && cidr ? [`${ip}/${cidr.split('/')[1]}`] : []);
  const ips = [...withPrefix(want.ip, node.podCidr), ...withPrefix(want.ip6, node.podCidr6)];
  if (ips.length && caps.ips) plugin.runtimeConfig = { ips };
  return JSON.stringify(plugin);
}

export interface CniOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

export async function execCni(plugin: string, command: 'ADD' | 'DEL' | 'CHECK', node: LabNode, pod: LabPod, want: WantedIps): Promise<CniOutcome> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: pod.containerId,
    CNI_NETNS: netnsPath(pod.netns),
    CNI_IFNAME,
    CNI_PATH: dirname(plugin),
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.containerId}`,
  };
  // the runtime runs in the node's network namespace
  const r = await run('nsenter', [`--net=${netnsPath(node.netns)}`, plugin], { env, input: pluginStdin(node, want), timeoutMs: 30_000 });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** The families a pod must come out with: those it asked for, else all of its node's. */
function expectedFamilies(node: LabNode, want: WantedIps): { v4: boolean; v6: boolean } {
  if (want.ip || want.ip6) return { v4: !!want.ip, v6: !!want.ip6 };
  return { v4: !!node.podCidr, v6: !!node.podCidr6 };
}

/**
 * Creates the sandbox and wires it; returns the pod's addresses (the CNI result's): exactly the
 * families asked for (the snapshot's), or every family of the node when the snapshot gives none.
 */
export async function createPodSandbox(lab: string, plugin: string, node: LabNode, pod: LabPod, want: WantedIps): Promise<WantedIps> {
  await addNetns(pod.netns);
  try {
    const r = await execCni(plugin, 'ADD', node, pod, want);
    const what = `CNI ADD for ${pod.namespace}/${pod.name}`;
    if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stdout.trim() || r.stderr.trim()}`);
    const result = JSON.parse(r.stdout) as { ips?: Array<{ address: string }> };
    const addrs = result.ips?.map((x) => x.address.split('/')[0]!) ?? [];
    const ip = addrs.find((a) => a.includes('.'));
    const ip6 = addrs.find((a) => a.includes(':'));
    const expected = expectedFamilies(node, want);
    if (expected.v4 !== !!ip) throw new Error(`${what} returned ${ip ? `an IPv4 address the pod should not have (${ip})` : 'no IPv4 address'}: ${r.stdout.trim()}`);
    if (expected.v6 !== !!ip6) throw new Error(`${what} returned ${ip6 ? `an IPv6 address the pod should not have (${ip6})` : 'no IPv6 address'}: ${r.stdout.trim()}`);
    return { ...(ip ? { ip } : {}), ...(ip6 ? { ip6 } : {}) };
  } catch (err) {
    await execCni(plugin, 'DEL', node, pod, want).catch(() => undefined);
    await delNetns(pod.netns);
    throw err;
  }
}

export async function startPodServer(lab: string, dir: string, pod: LabPod): Promise<number | undefined> {
  const { TCP, UDP, SCTP } = pod.ports;
  if (TCP.length + UDP.length + SCTP.length === 0) return undefined;
  const helper = await ensureHelper();
  const list = (ports: number[]) => (ports.length ? ports.join(',') : '-');
  return spawnDetached({
    lab,
    what: `server ${pod.namespace}/${pod.name}`,
    file: helper,
    args: ['serve', netnsPath(pod.netns), `${pod.namespace}/${pod.name}`, list(TCP), list(UDP), list(SCTP)],
    logPath: join(dir, 'servers.log'),
    ready: 'stdout-ready',
    timeoutMs: 10_000,
  });
}

/** Stops the server, runs CNI DEL, removes the netns (a runtime's order). */
export async function deletePod(plugin: string, node: LabNode | undefined, pod: LabPod): Promise<void> {
  if (pod.serverPid) await stopProcess(pod.serverPid, netnsPath(pod.netns), 1000);
  if (node) {
    const r = await execCni(plugin, 'DEL', node, pod, { ip: pod.ip, ip6: pod.ip6 });
    if (r.code !== 0) throw new Error(`CNI DEL for ${pod.namespace}/${pod.name} failed (exit ${r.code}): ${r.stdout.trim() || r.stderr.trim()}`);
  }
  await delNetns(pod.netns);
}
