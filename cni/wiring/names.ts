// Names and MACs derived from the attachment (container id + ifname), so DEL, GC and a
// restarted daemon can find the host side without any record surviving.
import { createHash } from 'node:crypto';

const hashOf = (containerId: string, ifname: string) => createHash('sha256').update(`${containerId}/${ifname}`).digest();

/** "pc" + 11 hex digits: 13 characters, under the kernel's 15. */
export function hostVethName(containerId: string, ifname: string): string {
  return `pc${hashOf(containerId, ifname).toString('hex').slice(0, 11)}`;
}

/** Locally administered unicast MACs (0x02 / 0x0a first octet) for both ends. */
export function vethMacs(containerId: string, ifname: string): { host: string; pod: string } {
  const h = hashOf(containerId, ifname);
  const fmt = (first: number, bytes: Buffer) => [first, ...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
  return { host: fmt(0x02, h.subarray(11, 16)), pod: fmt(0x0a, h.subarray(16, 21)) };
}
