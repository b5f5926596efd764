// Loads the upstream Kubernetes e2e NetworkPolicy truth tables (testdata/conformance/cases)
// and builds, for each step, the cluster snapshot and policies it assumes. Shared by the
// evaluator's tests, `policyc reach` tests and the lab's real-packet runs.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import jsYaml from 'js-yaml';
import type { Protocol } from '../compiler/model/k8s-types.js';

export const CONFORMANCE_DIR = new URL('../testdata/conformance/', import.meta.url).pathname;

export const NAMESPACES = ['x', 'y', 'z'] as const;
export const POD_NAMES = ['a', 'b', 'c'] as const;
/** Rows and columns of every truth table. */
export const POD_ORDER = NAMESPACES.flatMap((ns) => POD_NAMES.map((p) => `${ns}/${p}`));

export const DEFAULT_POD_IPS: Readonly<Record<string, string>> = {
  'x/a': '10.244.1.10', 'x/b': '10.244.1.11', 'x/c': '10.244.2.12',
  'y/a': '10.244.1.20', 'y/b': '10.244.2.21', 'y/c': '10.244.2.3',
  'z/a': '10.244.2.30', 'z/b': '10.244.1.31', 'z/c': '10.244.2.5',
};

/** Pods on node-1 (10.244.1.0/24) and node-2 (10.244.2.0/24), as the IP plan suggests. */
export function nodeOf(ip: string): string {
  return ip.startsWith('10.244.1.') ? 'node-1' : 'node-2';
}

interface ModelOverride {
  namespaces?: Record<string, { labels: Record<string, string> }>;
  pods?: Record<string, { labels: Record<string, string> }>;
  pod_ips?: Record<string, string>;
}

export interface Probe {
  port: number | string;
  protocol: Protocol;
  /** expect[from][to]: true = must connect. Indices follow POD_ORDER. */
  expect: boolean[][];
}

export interface Step {
  description?: string;
  actions: string[];
  /** The complete NetworkPolicy set at this step, as multi-document YAML. */
  policies: string;
  /** The cluster snapshot at this step, as `kubectl get namespaces,pods -o yaml` would print it. */
  snapshot: string;
  probes: Probe[];
}

export interface ConformanceCase {
  file: string;
  name: string;
  tags: string[];
  ignoreLoopback: boolean;
  steps: Step[];
}

export function loadCases(dir = join(CONFORMANCE_DIR, 'cases')): ConformanceCase[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => parseCase(f, readFileSync(join(dir, f), 'utf8')));
}

export function parseCase(file: string, text: string): ConformanceCase {
  const raw = jsYaml.load(text) as {
    name: string; tags?: string[]; ignore_loopback?: boolean; model?: ModelOverride;
    steps: Array<{ description?: string; actions?: string[]; model?: ModelOverride; policies?: string; probes: Array<{ port: number | string; protocol: Protocol; expect: string[] }> }>;
  };
  const steps = raw.steps.map((s) => ({
    description: s.description,
    actions: s.actions ?? [],
    policies: s.policies ?? '',
    snapshot: snapshotYaml({ ...raw.model, ...s.model, pod_ips: { ...raw.model?.pod_ips, ...s.model?.pod_ips } }),
    probes: s.probes.map((p) => ({ port: p.port, protocol: p.protocol, expect: parseMatrix(p.expect) })),
  }));
  return { file, name: raw.name, tags: raw.tags ?? [], ignoreLoopback: raw.ignore_loopback !== false, steps };
}

function parseMatrix(rows: string[]): boolean[][] {
  return POD_ORDER.map((from, i) => {
    const cells = rows[i].trim().split(/\s+/);
    if (cells[0] !== from) throw new Error(`truth table row ${i} is ${cells[0]}, expected ${from}`);
    return cells.slice(1).map((c) => c === '.');
  });
}

const PORTS = [80, 81].flatMap((port) => (['TCP', 'UDP', 'SCTP'] as const).map((protocol) => ({ port, protocol })));

/** The model as plain Kubernetes objects (a `kind: List`), in kubectl's YAML. */
export function snapshotObjects(model: ModelOverride = {}): unknown {
  const items: unknown[] = [];
  for (const ns of NAMESPACES) {
    const labels = model.namespaces?.[ns]?.labels ?? { ns, 'kubernetes.io/metadata.name': ns };
    items.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } });
  }
  for (const key of POD_ORDER) {
    const [ns, name] = key.split('/');
    const ip = model.pod_ips?.[key] ?? DEFAULT_POD_IPS[key];
    const labels = model.pods?.[key]?.labels ?? { pod: name };
    items.push({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: ns, labels },
      spec: {
        nodeName: nodeOf(ip),
        containers: PORTS.map(({ port, protocol }) => ({
          name: `cont-${port}-${protocol.toLowerCase()}`,
          image: 'registry.k8s.io/e2e-test-images/agnhost:2.53',
          ports: [{ name: `serve-${port}-${protocol.toLowerCase()}`, containerPort: port, protocol }],
        })),
      },
      status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
    });
  }
  return { apiVersion: 'v1', kind: 'List', items };
}

export function snapshotYaml(model: ModelOverride = {}): string {
  return jsYaml.dump(snapshotObjects(model), { lineWidth: -1, noRefs: true });
}

/** Text like the upstream tables: rows = from, '.' connects, 'X' blocked. */
export function formatMatrix(pods: readonly string[], allowed: readonly boolean[][]): string {
  const width = Math.max(...pods.map((p) => p.length));
  const header = `${' '.repeat(width)} ${pods.join(' ')}`;
  const rows = pods.map((p, i) => `${p.padEnd(width)} ${allowed[i].map((a, j) => (a ? '.' : 'X').padEnd(pods[j].length)).join(' ')}`);
  return [header, ...rows].join('\n');
}
