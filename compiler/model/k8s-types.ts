// The Kubernetes objects policyc reads, as they appear on the wire (after YAML parsing).
// Only the fields policy semantics depend on are typed; everything else passes through.

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid?: string;
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

// ---- networking.k8s.io/v1 NetworkPolicy

export interface IPBlock {
  cidr: string;
  except?: string[];
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IPBlock;
}

export interface NetworkPolicyPort {
  protocol?: Protocol;
  port?: number | string;
  endPort?: number;
}

export interface NetworkPolicyIngressRule {
  from?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicyEgressRule {
  to?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicy {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: ObjectMeta;
  spec: {
    podSelector: LabelSelector;
    policyTypes?: Array<'Ingress' | 'Egress'>;
    ingress?: NetworkPolicyIngressRule[];
    egress?: NetworkPolicyEgressRule[];
  };
}

// ---- policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy / BaselineAdminNetworkPolicy

export interface NamespacedPod {
  namespaceSelector: LabelSelector;
  podSelector: LabelSelector;
}

/** `subject`: exactly one of namespaces / pods. */
export interface AdminNetworkPolicySubject {
  namespaces?: LabelSelector;
  pods?: NamespacedPod;
}

/** A peer: exactly one field set. `nodes` and `networks` are egress-only. */
export interface AdminNetworkPolicyPeer {
  namespaces?: LabelSelector;
  pods?: NamespacedPod;
  nodes?: LabelSelector;
  networks?: string[];
}

export interface AdminNetworkPolicyPort {
  portNumber?: { protocol?: Protocol; port: number };
  namedPort?: string;
  portRange?: { protocol?: Protocol; start: number; end: number };
}

export type AdminAction = 'Allow' | 'Deny' | 'Pass';
export type BaselineAction = 'Allow' | 'Deny';

export interface AdminNetworkPolicyRule<A extends string = AdminAction> {
  name?: string;
  action: A;
  from?: AdminNetworkPolicyPeer[];
  to?: AdminNetworkPolicyPeer[];
  ports?: AdminNetworkPolicyPort[];
}

export interface AdminNetworkPolicy {
  apiVersion: 'policy.networking.k8s.io/v1alpha1';
  kind: 'AdminNetworkPolicy';
  metadata: ObjectMeta;
  spec: {
    priority: number;
    subject: AdminNetworkPolicySubject;
    ingress?: AdminNetworkPolicyRule[];
    egress?: AdminNetworkPolicyRule[];
  };
}

export interface BaselineAdminNetworkPolicy {
  apiVersion: 'policy.networking.k8s.io/v1alpha1';
  kind: 'BaselineAdminNetworkPolicy';
  metadata: ObjectMeta;
  spec: {
    subject: AdminNetworkPolicySubject;
    ingress?: AdminNetworkPolicyRule<BaselineAction>[];
    egress?: AdminNetworkPolicyRule<BaselineAction>[];
  };
}

export type PolicyObject = NetworkPolicy | AdminNetworkPolicy | BaselineAdminNetworkPolicy;
export type PolicyKind = PolicyObject['kind'];

export const POLICY_KINDS: ReadonlySet<string> = new Set(['NetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy']);

// ---- core/v1, as `kubectl get namespaces,pods,nodes -A -o yaml` prints them

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: Protocol;
}

export interface Pod {
  apiVersion?: 'v1';
  kind: 'Pod';
  metadata: ObjectMeta;
  spec?: { nodeName?: string; containers?: Array<{ name?: string; ports?: ContainerPort[] }>; hostNetwork?: boolean };
  status?: { podIP?: string; podIPs?: Array<{ ip: string }>; phase?: string };
}

export interface Namespace {
  apiVersion?: 'v1';
  kind: 'Namespace';
  metadata: ObjectMeta;
}

export interface Node {
  apiVersion?: 'v1';
  kind: 'Node';
  metadata: ObjectMeta;
  spec?: { podCIDR?: string; podCIDRs?: string[] };
  status?: { addresses?: Array<{ type: string; address: string }> };
}
