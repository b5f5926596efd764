// A throwaway "node" network namespace that routes between pod namespaces over veth pairs
// (Calico-style: each pod has its address /32 and a default route via 169.254.1.1 on eth0),
// with tiny TCP/UDP servers and clients run by Node.js inside the pods. For real-packet tests
// and the lab; every namespace it creates is named pcnft-<random>-* and removed by destroy().

import { spawn, type ChildProcess } from 'node:child_process';
import { addNetns, deleteNetns, run } from './loader.js';

export interface PodSpec {
  /** Unique short key, e.g. `x/a`. */
  readonly key: string;
  readonly ip: string;
}

export interface PodNetwork {
  readonly node: string;
  /** Pod key -> namespace name. */
  readonly pods: ReadonlyMap<string, string>;
  destroy(): Promise<void>;
}

async function must(args: readonly string[]): Promise<void> {
  const r = await run('ip', args);
  if (!r.ok) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

export async function createPodNetwork(pods: readonly PodSpec[]): Promise<PodNetwork> {
  const tag = `pcnft-${Math.random().toString(36).slice(2, 8)}`;
  const node = `${tag}-node`;
  const created: string[] = [];
  const map = new Map<string, string>();
  const destroy = async () => {
    for (const ns of created.reverse()) await deleteNetns(ns);
  };
  try {
    await addNetns(node);
    created.push(node);
    await must(['-n', node, 'link', 'set', 'lo', 'up']);
    for (const [k, v] of [
      ['net.ipv4.ip_forward', '1'],
      ['net.ipv4.conf.all.rp_filter', '0'],
      ['net.ipv4.conf.default.rp_filter', '0'],
    ]) {
      const r = await run('ip', ['netns', 'exec', node, 'sysctl', '-q', '-w', `${k}=${v}`]);
      if (!r.ok) throw new Error(`sysctl ${k}: ${r.stderr.trim()}`);
    }
    for (const [i, pod] of pods.entries()) {
      const ns = `${tag}-p${i}`;
      await addNetns(ns);
      created.push(ns);
      map.set(pod.key, ns);
      const host = `vh${i}`;
      await must(['-n', node, 'link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await must(['-n', node, 'addr', 'add', '169.254.1.1/32', 'dev', host]);
      await must(['-n', node, 'link', 'set', host, 'up']);
      await must(['-n', node, 'route', 'add', `${pod.ip}/32`, 'dev', host]);
      await must(['-n', ns, 'link', 'set', 'lo', 'up']);
      await must(['-n', ns, 'addr', 'add', `${pod.ip}/32`, 'dev', 'eth0']);
      await must(['-n', ns, 'link', 'set', 'eth0', 'up']);
      await must(['-n', ns, 'route', 'add', '169.254.1.1', 'dev', 'eth0']);
      await must(['-n', ns, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0']);
    }
  } catch (err) {
    await destroy();
    throw err;
  }
  return { node, pods: map, destroy };
}

const SERVER = `
const net = require('node:net'); const dgram = require('node:dgram');
const ports = JSON.parse(process.argv[1]); let pending = ports.length * 2;
const ready = () => { if (--pending === 0) console.log('ready'); };
for (const p of ports) {
  net.createServer((s) => { s.on('error', () => {}); s.end('ok'); }).listen(p, '0.0.0.0', ready);
  const u = dgram.createSocket('udp4'); u.on('message', (m, r) => u.send(m, r.port, r.address)); u.bind(p, '0.0.0.0', ready);
}
setTimeout(() => process.exit(0), 120000);
`;

const CLIENT = `
const net = require('node:net'); const dgram = require('node:dgram');
const probes = JSON.parse(process.argv[1]); const timeout = Number(process.argv[2]);
const one = ([ip, port, proto]) => new Promise((resolve) => {
  if (proto === 'TCP') {
    const s = net.connect({ host: ip, port, timeout });
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('timeout', () => { s.destroy(); resolve(false); });
    s.on('error', () => resolve(false));
  } else {
    const u = dgram.createSocket('udp4'); let done = false;
    const finish = (v) => { if (!done) { done = true; u.close(); resolve(v); } };
    u.on('message', () => finish(true)); u.on('error', () => finish(false));
    u.send('ping', port, ip); setTimeout(() => finish(false), timeout);
  }
});
Promise.all(probes.map(one)).then((r) => console.log(JSON.stringify(r)));
`;

/** Starts TCP+UDP servers on the ports in every pod; resolves when all listen. */
export async function startServers(net: PodNetwork, ports: readonly number[]): Promise<ChildProcess[]> {
  const children: ChildProcess[] = [];
  try {
    await Promise.all(
      [...net.pods.values()].map(
        (ns) =>
          new Promise<void>((resolve, reject) => {
            const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SERVER, JSON.stringify(ports)], { stdio: ['ignore', 'pipe', 'pipe'] });
            children.push(child);
            let err = '';
            child.stderr!.on('data', (d) => (err += d));
            child.stdout!.on('data', (d) => (String(d).includes('ready') ? resolve() : undefined));
            child.on('exit', (code) => reject(new Error(`server in ${ns} exited (${code}): ${err}`)));
          }),
      ),
    );
  } catch (e) {
    stopServers(children);
    throw e;
  }
  return children;
}

export function stopServers(children: readonly ChildProcess[]): void {
  for (const c of children) if (c.exitCode === null && c.pid !== undefined) c.kill('SIGKILL');
}

/** From one pod, tries each (ip, port, protocol); true = connected / echoed. */
export async function probeFrom(net: PodNetwork, podKey: string, probes: ReadonlyArray<readonly [string, number, 'TCP' | 'UDP']>, timeoutMs = 600): Promise<boolean[]> {
  const ns = net.pods.get(podKey);
  if (!ns) throw new Error(`no pod ${podKey}`);
  const r = await run('ip', ['netns', 'exec', ns, process.execPath, '-e', CLIENT, JSON.stringify(probes), String(timeoutMs)], undefined, 30_000);
  if (!r.ok) throw new Error(`client in ${ns}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim()) as boolean[];
}
