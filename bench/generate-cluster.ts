// A deterministic synthetic cluster shaped like real ones: namespaces labelled by team, env
// and tier; deployments' pods (app, tier, version, and pod-template-hash, a high-cardinality
// label no policy selects) with named container ports and IPs from their node's pod CIDR;
// nodes; per-namespace NetworkPolicies; a few dozen AdminNetworkPolicies and one BANP.
// Objects are in the shape the API server returns them (defaults filled in), fields in Go
// struct order (what `-o json` prints; kube-yaml.ts sorts keys for `-o yaml`).

import { KUBE_ALPHABET, Rng } from './prng.js';

export interface GenerateOptions {
  pods: number;
  /** NetworkPolicies; AdminNetworkPolicies and the BANP come on top. */
  policies: number;
  adminPolicies?: number;
  seed?: number;
}

export interface GeneratedCluster {
  namespaces: Obj[];
  nodes: Obj[];
  pods: Obj[];
  networkPolicies: Obj[];
  adminPolicies: Obj[];
  baselinePolicy: Obj;
}

type Obj = Record<string, unknown>;

const TEAMS = ['payments', 'checkout', 'search', 'identity', 'catalog', 'shipping', 'ads', 'ml', 'data', 'web', 'mobile', 'billing'];
const ENVS = ['prod', 'staging', 'dev'];
const TIERS = ['frontend', 'backend', 'data'] as const;
type TierName = (typeof TIERS)[number];
const APP_WORDS = ['api', 'web', 'worker', 'gateway', 'auth', 'cart', 'ledger', 'index', 'query', 'feed', 'notify', 'render', 'cache', 'store', 'sync', 'report'];
const ZONES = ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'];
const PODS_PER_NAMESPACE = 100;
const PODS_PER_NODE = 100;

interface PortSpec {
  name: string;
  containerPort: number;
  protocol: 'TCP' | 'UDP';
}

const PORTS_BY_TIER: Record<TierName, PortSpec[]> = {
  frontend: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'metrics', containerPort: 9102, protocol: 'TCP' }],
  backend: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'grpc', containerPort: 9090, protocol: 'TCP' }, { name: 'metrics', containerPort: 9102, protocol: 'TCP' }],
  data: [{ name: 'postgres', containerPort: 5432, protocol: 'TCP' }, { name: 'metrics', containerPort: 9187, protocol: 'TCP' }],
};

interface App {
  namespace: string;
  name: string;
  tier: TierName;
  ports: PortSpec[];
  labels?: Record<string, string>;
}

interface NamespaceInfo {
  name: string;
  team: string;
  env: string;
  tier: TierName;
  apps: App[];
}

function timestamp(rng: Rng): string {
  const day = rng.int(1, 28);
  const hour = rng.int(0, 23);
  return `2025-0${rng.int(1, 9)}-${String(day).padStart(2, '0')}T${String(hour).padStart(2, '0')}:${String(rng.int(0, 59)).padStart(2, '0')}:${String(rng.int(0, 59)).padStart(2, '0')}Z`;
}

function uid(rng: Rng): string {
  const hex = () => rng.chars(4, '0123456789abcdef');
  return `${hex()}${hex()}-${hex()}-${hex()}-${hex()}-${hex()}${hex()}${hex()}`;
}

function meta(rng: Rng, name: string, namespace: string | undefined, labels: Record<string, string> | undefined, extra: Obj = {}): Obj {
  return {
    ...(labels ? { labels } : {}),
    name,
    ...(namespace !== undefined ? { namespace } : {}),
    ...extra,
    creationTimestamp: timestamp(rng),
    resourceVersion: String(rng.int(1000, 99_999_999)),
    uid: uid(rng),
  };
}

export function generateCluster(options: GenerateOptions): GeneratedCluster {
  const rng = new Rng(options.seed ?? 42);
  const nsCount = Math.max(3, Math.round(options.pods / PODS_PER_NAMESPACE));
  const nodeCount = Math.max(1, Math.ceil(options.pods / PODS_PER_NODE));

  const nodes: Obj[] = [];
  const nodeNames: string[] = [];
  const nodeNext: number[] = [];
  for (let i = 0; i < nodeCount; i++) {
    const name = `ip-172-20-${i >> 8}-${i & 255}.eu-west-1.compute.internal`;
    nodeNames.push(name);
    nodeNext.push(2);
    nodes.push({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: meta(rng, name, undefined, {
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'node-role.kubernetes.io/worker': '',
        'node.kubernetes.io/instance-type': rng.pick(['m6i.2xlarge', 'm6i.4xlarge', 'c6i.4xlarge']),
        'topology.kubernetes.io/zone': ZONES[i % ZONES.length],
      }),
      spec: { podCIDR: nodeCidr(i), podCIDRs: [nodeCidr(i)], providerID: `aws:///${ZONES[i % ZONES.length]}/i-0${rng.chars(16, '0123456789abcdef')}` },
      status: {
        addresses: [
          { address: `172.20.${i >> 8}.${i & 255}`, type: 'InternalIP' },
          { address: name, type: 'Hostname' },
        ],
      },
    });
  }

  // Namespaces and their deployments.
  const infos: NamespaceInfo[] = [];
  const system: NamespaceInfo = { name: 'kube-system', team: 'platform', env: 'prod', tier: 'backend', apps: [] };
  const monitoring: NamespaceInfo = { name: 'monitoring', team: 'sre', env: 'prod', tier: 'backend', apps: [] };
  infos.push(system, monitoring);
  for (let i = 0; infos.length < nsCount; i++) {
    const team = TEAMS[i % TEAMS.length];
    const env = ENVS[Math.floor(i / TEAMS.length) % ENVS.length];
    infos.push({ name: `${team}-${env}-${i}`, team, env, tier: TIERS[i % TIERS.length], apps: [] });
  }
  system.apps.push({ namespace: 'kube-system', name: 'coredns', tier: 'backend', labels: { 'k8s-app': 'kube-dns' }, ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }, { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' }, { name: 'metrics', containerPort: 9153, protocol: 'TCP' }] });
  monitoring.apps.push({ namespace: 'monitoring', name: 'prometheus', tier: 'backend', ports: [{ name: 'web', containerPort: 9090, protocol: 'TCP' }] });
  for (const ns of infos.slice(2)) {
    const count = rng.int(6, 12);
    const words = [...APP_WORDS];
    for (let a = 0; a < count && words.length > 0; a++) {
      const word = words.splice(rng.int(0, words.length - 1), 1)[0];
      const tier: TierName = a === 0 ? 'frontend' : a === count - 1 ? 'data' : rng.pick(TIERS);
      ns.apps.push({ namespace: ns.name, name: `${ns.team}-${word}`, tier, ports: PORTS_BY_TIER[tier] });
    }
  }
  const namespaces: Obj[] = infos.map((ns) => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: meta(rng, ns.name, undefined, {
      env: ns.env,
      'kubernetes.io/metadata.name': ns.name,
      team: ns.team,
      tier: ns.tier,
    }),
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  }));

  // Pods: replicas spread over every app until the count is reached.
  const allApps = infos.flatMap((ns) => ns.apps);
  const pods: Obj[] = [];
  for (let i = 0; pods.length < options.pods; i++) {
    const app = i < allApps.length ? allApps[i] : rng.pick(allApps);
    const hash = rng.chars(10, KUBE_ALPHABET);
    const replicas = Math.min(options.pods - pods.length, rng.int(1, 8));
    for (let r = 0; r < replicas; r++) {
      let node = rng.int(0, nodeCount - 1);
      while (nodeNext[node] > 250) node = (node + 1) % nodeCount;
      const ip = nodeIp(node, nodeNext[node]++);
      pods.push(makePod(rng, app, hash, ip, nodeNames[node]));
    }
  }

  const networkPolicies = makeNetworkPolicies(rng, infos, options.policies);
  const adminPolicies = makeAdminPolicies(rng, options.adminPolicies ?? 36);
  const baselinePolicy = makeBaseline(rng);
  return { namespaces, nodes, pods, networkPolicies, adminPolicies, baselinePolicy };
}

/** Node i's pod CIDR: a /24 out of 10.64.0.0/14 (room for 1024 nodes of up to 254 pods). */
function nodeCidr(i: number): string {
  return `10.${64 + (i >> 8)}.${i & 255}.0/24`;
}

function nodeIp(i: number, host: number): string {
  return `10.${64 + (i >> 8)}.${i & 255}.${host}`;
}

/** Trimmed like the issue's reference snapshot (~460 bytes a pod in YAML): no uid, timestamps or owner references. */
function makePod(rng: Rng, app: App, hash: string, ip: string, nodeName: string): Obj {
  const name = `${app.name}-${hash}-${rng.chars(5, KUBE_ALPHABET)}`;
  const version = rng.pick(['v1', 'v2', 'v3']);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { labels: { app: app.name, ...app.labels, 'pod-template-hash': hash, tier: app.tier, version }, name, namespace: app.namespace },
    spec: {
      containers: [{
        image: `registry.example.com/${app.name}:${version}.${rng.int(0, 30)}`,
        name: app.name,
        ports: app.ports.map((p) => ({ containerPort: p.containerPort, name: p.name, protocol: p.protocol })),
      }],
      nodeName,
    },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
  };
}

function selector(matchLabels?: Record<string, string>, matchExpressions?: Obj[]): Obj {
  return { ...(matchExpressions ? { matchExpressions } : {}), ...(matchLabels ? { matchLabels } : {}) };
}

function tcp(port: number | string, endPort?: number): Obj {
  return { ...(endPort !== undefined ? { endPort } : {}), port, protocol: 'TCP' };
}

function networkPolicy(rng: Rng, namespace: string, name: string, spec: Obj): Obj {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: meta(rng, name, namespace, undefined, { generation: 1 }),
    spec,
  };
}

/** Per namespace: default deny, DNS egress, then per-app policies in several common shapes. */
function makeNetworkPolicies(rng: Rng, infos: NamespaceInfo[], total: number): Obj[] {
  const out: Obj[] = [];
  const tenants = infos.slice(2);
  const dns = {
    ports: [{ port: 53, protocol: 'UDP' }, tcp(53)],
    to: [{ namespaceSelector: selector({ 'kubernetes.io/metadata.name': 'kube-system' }), podSelector: selector({ 'k8s-app': 'kube-dns' }) }],
  };
  for (const ns of tenants) {
    if (out.length >= total) break;
    out.push(networkPolicy(rng, ns.name, 'default-deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }));
    if (out.length >= total) break;
    out.push(networkPolicy(rng, ns.name, 'allow-dns', { egress: [dns], podSelector: {}, policyTypes: ['Egress'] }));
  }
  const shapes = [sameTier, fromOtherTeam, externalEgress, fromMonitoring, portRange, toDatabase, fromProdNamespaces];
  for (let round = 0; out.length < total; round++) {
    for (const ns of tenants) {
      if (out.length >= total) break;
      const app = ns.apps[round % ns.apps.length];
      const shape = shapes[(round + tenants.indexOf(ns)) % shapes.length];
      out.push(networkPolicy(rng, ns.name, `${app.name}-${shape.name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}-${round}`, shape(rng, ns, app, tenants)));
    }
  }
  return out;
}

function sameTier(_rng: Rng, _ns: NamespaceInfo, app: App): Obj {
  return {
    ingress: [{ from: [{ podSelector: selector({ tier: app.tier }) }], ports: [tcp(app.ports[0].name)] }],
    podSelector: selector({ app: app.name }),
    policyTypes: ['Ingress'],
  };
}

function fromOtherTeam(rng: Rng, _ns: NamespaceInfo, app: App, tenants: NamespaceInfo[]): Obj {
  const other = rng.pick(tenants);
  const peerApp = rng.pick(other.apps);
  return {
    ingress: [{
      from: [{ namespaceSelector: selector({ env: other.env, team: other.team }), podSelector: selector({ app: peerApp.name }) }],
      ports: [tcp(8080), tcp(9090)],
    }],
    podSelector: selector({ app: app.name }),
    policyTypes: ['Ingress'],
  };
}

function externalEgress(rng: Rng, _ns: NamespaceInfo, app: App): Obj {
  return {
    egress: [{
      ports: [tcp(443)],
      to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] } }],
    }, {
      ports: [tcp(5432)],
      to: [{ ipBlock: { cidr: `192.168.${rng.int(0, 255)}.0/24` } }],
    }],
    podSelector: selector({ app: app.name }),
    policyTypes: ['Egress'],
  };
}

function fromMonitoring(_rng: Rng, _ns: NamespaceInfo, app: App): Obj {
  return {
    ingress: [{
      from: [{ namespaceSelector: selector({ 'kubernetes.io/metadata.name': 'monitoring' }), podSelector: selector({ app: 'prometheus' }) }],
      ports: [tcp('metrics')],
    }],
    podSelector: selector({ app: app.name }),
    policyTypes: ['Ingress'],
  };
}

function portRange(_rng: Rng, ns: NamespaceInfo, app: App): Obj {
  return {
    ingress: [{
      from: [{ podSelector: selector(undefined, [{ key: 'tier', operator: 'In', values: ['backend', 'frontend'] }]) }],
      ports: [tcp(8000, 8100)],
    }],
    podSelector: selector({ app: app.name, tier: app.tier }, ns.env === 'prod' ? [{ key: 'version', operator: 'NotIn', values: ['v1'] }] : undefined),
    policyTypes: ['Ingress'],
  };
}

function toDatabase(_rng: Rng, ns: NamespaceInfo, app: App): Obj {
  const db = ns.apps.find((a) => a.tier === 'data') ?? app;
  return {
    egress: [{ ports: [tcp('postgres')], to: [{ podSelector: selector({ app: db.name, tier: 'data' }) }] }],
    podSelector: selector({ app: app.name }),
    policyTypes: ['Egress'],
  };
}

function fromProdNamespaces(rng: Rng, _ns: NamespaceInfo, app: App): Obj {
  const b = rng.int(16, 31);
  return {
    ingress: [{
      from: [
        { namespaceSelector: selector(undefined, [{ key: 'env', operator: 'In', values: ['prod', 'staging'] }, { key: 'team', operator: 'Exists' }]), podSelector: selector({ tier: 'frontend' }) },
        { ipBlock: { cidr: `172.${b}.0.0/16`, except: [`172.${b}.${rng.int(0, 255)}.0/24`] } },
      ],
      ports: [tcp('http'), tcp(8443)],
    }],
    podSelector: selector({ app: app.name }),
    policyTypes: ['Ingress'],
  };
}

function adminPolicy(rng: Rng, kind: 'AdminNetworkPolicy' | 'BaselineAdminNetworkPolicy', name: string, spec: Obj): Obj {
  return {
    apiVersion: 'policy.networking.k8s.io/v1alpha1',
    kind,
    metadata: meta(rng, name, undefined, undefined, { generation: 1 }),
    spec,
    status: { conditions: [{ lastTransitionTime: timestamp(rng), message: 'Setting up OVN DB plumbing was successful', reason: 'SetupSucceeded', status: 'True', type: 'Ready-In-Zone-eu-west-1a' }] },
  };
}

/** Allow/Deny/Pass at distinct priorities, subjects by namespace labels or pods, every peer kind. */
function makeAdminPolicies(rng: Rng, count: number): Obj[] {
  const out: Obj[] = [];
  const actions = ['Deny', 'Allow', 'Pass'];
  for (let i = 0; i < count; i++) {
    const team = TEAMS[i % TEAMS.length];
    const env = ENVS[i % ENVS.length];
    const action = actions[i % actions.length];
    const subject = i % 2 === 0
      ? { namespaces: selector({ env }) }
      : { pods: { namespaceSelector: selector({ team }), podSelector: selector({ tier: TIERS[i % 3] }) } };
    const ingress = [{
      action,
      from: [
        { namespaces: selector({ env: ENVS[(i + 1) % ENVS.length] }) },
        { pods: { namespaceSelector: selector({ 'kubernetes.io/metadata.name': 'monitoring' }), podSelector: selector({ app: 'prometheus' }) } },
      ],
      name: `${action.toLowerCase()}-from-${ENVS[(i + 1) % ENVS.length]}`,
      ports: [{ portNumber: { port: 8080, protocol: 'TCP' } }, { namedPort: 'metrics' }],
    }];
    const egress = [{
      action,
      name: `${action.toLowerCase()}-egress`,
      ports: [{ portRange: { end: 32767, protocol: 'TCP', start: 30000 } }],
      to: i % 3 === 0
        ? [{ nodes: selector({ 'node-role.kubernetes.io/worker': '' }) }]
        : [{ networks: [`10.${100 + i}.0.0/16`, `203.0.113.${i}/32`] }],
    }];
    out.push(adminPolicy(rng, 'AdminNetworkPolicy', `${team}-${env}-guardrail-${i}`, { egress, ingress, priority: 10 + i * 5, subject }));
  }
  return out;
}

function makeBaseline(rng: Rng): Obj {
  return adminPolicy(rng, 'BaselineAdminNetworkPolicy', 'default', {
    egress: [{ action: 'Allow', name: 'allow-dns', ports: [{ portNumber: { port: 53, protocol: 'UDP' } }], to: [{ pods: { namespaceSelector: selector({ 'kubernetes.io/metadata.name': 'kube-system' }), podSelector: selector({ 'k8s-app': 'kube-dns' }) } }] }],
    ingress: [{ action: 'Deny', from: [{ namespaces: selector({ env: 'dev' }) }], name: 'deny-from-dev' }],
    subject: { namespaces: selector(undefined, [{ key: 'env', operator: 'In', values: ['prod'] }]) },
  });
}
