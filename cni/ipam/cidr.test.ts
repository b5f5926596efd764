import { describe, expect, it } from 'vitest';
import { bigintToIp, cidrContains, cidrSize, formatCidr, ipToBigint, parseCidr } from './cidr.js';

describe('cidr', () => {
  it.each([
    ['10.0.0.1', 4],
    ['255.255.255.255', 4],
    ['::', 6],
    ['fd00::5', 6],
    ['2001:db8:0:1:0:0:0:1', 6],
    ['::ffff:1.2.3.4', 6],
  ] as const)('round-trips %s', (ip, fam) => {
    expect(ipToBigint(bigintToIp(ipToBigint(ip), fam))).toBe(ipToBigint(ip));
  });

  it('prints IPv6 compressed (RFC 5952)', () => {
    expect(bigintToIp(ipToBigint('2001:db8:0:1:0:0:0:1'), 6)).toBe('2001:db8:0:1::1');
    expect(bigintToIp(ipToBigint('fe80::1'), 6)).toBe('fe80::1');
    expect(bigintToIp(0n, 6)).toBe('::');
  });

  it('parses, normalizes and tests membership', () => {
    const c = parseCidr('10.1.2.3/24');
    expect(formatCidr(c)).toBe('10.1.2.0/24');
    expect(cidrSize(c)).toBe(256n);
    expect(cidrContains(c, '10.1.2.255')).toBe(true);
    expect(cidrContains(c, '10.1.3.0')).toBe(false);
    expect(cidrContains(c, 'fd00::1')).toBe(false);
    expect(formatCidr(parseCidr('fd00:1::7/64'))).toBe('fd00:1::/64');
  });

  it.each(['10.0.0.0', '10.0.0.0/33', 'fd00::/129', 'x/8', '10.0.0.0/2.5'])('rejects %s', (text) => {
    expect(() => parseCidr(text)).toThrow();
  });
});
