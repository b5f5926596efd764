// The Kubernetes naming rules a flow's words must follow (apimachinery validation).

import { isIPv4, isIPv6 } from 'node:net';

const dnsLabel = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;
const labelName = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** RFC 1123 label: namespace names. */
export function isDnsLabel(s: string): boolean {
  return s.length <= 63 && dnsLabel.test(s);
}

/** RFC 1123 subdomain: pod names, label key prefixes. */
export function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && s.split('.').every((part) => dnsLabel.test(part));
}

/** The name part of a label key (after an optional `prefix/`). */
export function isLabelName(s: string): boolean {
  return s.length <= 63 && labelName.test(s);
}

export function isLabelValue(s: string): boolean {
  return s === '' || isLabelName(s);
}

/** IANA_SVC_NAME: at most 15 of a-z, 0-9 and '-', a letter somewhere, no '--', no '-' at either end. */
export function isPortName(s: string): boolean {
  return s.length <= 15 && dnsLabel.test(s) && /[a-z]/.test(s) && !s.includes('--');
}

/** Digits and dots with at least one dot: written as an IPv4 address (valid or not). */
export function looksLikeIPv4(s: string): boolean {
  return /^[0-9]+(?:\.[0-9]*)+$/.test(s);
}

export { isIPv4, isIPv6 };

export const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;

export const messages = {
  namespace: (s: string) => `invalid namespace name '${s}': a lowercase RFC 1123 label (a-z, 0-9, '-'; at most 63)`,
  podName: (s: string) => `invalid pod name '${s}': a lowercase RFC 1123 subdomain (a-z, 0-9, '-', '.'; at most 253)`,
  keyPrefix: (s: string) => `invalid label key prefix '${s}': a lowercase RFC 1123 subdomain (at most 253)`,
  keyName: (s: string) =>
    `invalid label key '${s}': at most 63 of letters, digits, '-', '_' and '.', starting and ending with a letter or digit`,
  value: (s: string) =>
    `invalid label value '${s}': at most 63 of letters, digits, '-', '_' and '.', starting and ending with a letter or digit`,
  ipv4: (s: string) => `invalid IPv4 address '${s}'`,
  ipv6: (s: string) => `invalid IPv6 address '${s}'`,
  prefix: (s: string, max: number) => `invalid prefix length '${s}': 0 to ${max}`,
  port: (s: string) => `port ${s} out of range 1-65535`,
  reversedRange: (s: string) => `port range '${s}' ends below its start`,
  portName: (s: string) =>
    `invalid port name '${s}': at most 15 of a-z, 0-9 and '-', with a letter, no '--' and no '-' at either end`,
  protocol: (s: string) => `unknown protocol '${s}': TCP, UDP or SCTP`,
  namespaceNeedsValue: (key: string) => `'${key}' constrains the namespace name and needs a value: ${key}=NAME or ${key} in (A,B)`,
  emptyPath: () => 'empty path',
};
