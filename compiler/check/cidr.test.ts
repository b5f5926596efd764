// CIDR parsing as Go does it: ParseCIDRSloppy for NetworkPolicy ipBlock, netip.ParsePrefix plus
// "no IPv4-mapped IPv6" (CEL isCIDR) for AdminNetworkPolicy networks.

import { describe, expect, it } from 'vitest';
import { formatNet, isStrictSubnet, parseCidrSloppy, parseCidrStrict, type IPNet } from './cidr.js';

const net = (text: string): IPNet => {
  const parsed = parseCidrSloppy(text);
  if (!parsed.net) throw new Error(`test setup: ${text} does not parse`);
  return parsed.net;
};

describe('parseCidrSloppy (NetworkPolicy ipBlock)', () => {
  it.each([
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['10.244.1.10/4', '0.0.0.0/4'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['255.255.255.255/32', '255.255.255.255/32'],
    ['::/0', '::/0'],
    ['2001:db8::/32', '2001:db8::/32'],
    ['2001:DB8:0:0:1::/80', '2001:db8:0:0:1::/80'],
    ['fe80::1/10', 'fe80::/10'],
    ['1:2:3:4:5:6:1.2.3.4/128', '1:2:3:4:5:6:102:304/128'],
  ])('accepts %s as %s', (text, canonical) => {
    const parsed = parseCidrSloppy(text);
    expect(parsed.error).toBeUndefined();
    expect(parsed.warning).toBeUndefined();
    expect(formatNet(parsed.net as IPNet)).toBe(canonical);
  });

  it.each([
    ['010.001.0.0/16', '10.1.0.0/16'],
    ['10.0.0.0/08', '10.0.0.0/8'],
    ['::ffff:10.0.0.0/104', '10.0.0.0/8'],
    ['00001::/64', '1::/64'],
  ])('accepts the legacy form %s with a warning (%s)', (text, canonical) => {
    const parsed = parseCidrSloppy(text);
    expect(parsed.error).toBeUndefined();
    expect(parsed.warning).toBeDefined();
    expect(formatNet(parsed.net as IPNet)).toBe(canonical);
  });

  it.each([
    '', '10.0.0.0', '/8', '10.0.0.0/', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/+8', '10.0.0.0/8/8', '10.0.0.0/ 8', ' 10.0.0.0/8',
    '10.0.0.256/8', '10.0.0/8', '10.0.0.0.0/8', '10..0.0/8', 'a.b.c.d/8', '0x0a.0.0.0/8', '::/129', ':::/64', '1::2::3/64',
    '1:2:3:4:5:6:7:8:9/64', '1:2:3:4:5:6:7:8::/64', 'fe80::1%eth0/64', '12345::/64', '::1.2.3/128', '1:2:3:4:5:6:7:1.2.3.4/128', 'g::/64',
  ])('rejects %j', (text) => {
    expect(parseCidrSloppy(text).error).toBeDefined();
  });
});

describe('parseCidrStrict (AdminNetworkPolicy networks)', () => {
  it.each(['10.0.0.0/8', '10.1.2.3/8', '::/0', '2001:db8::/32', '::1.2.3.4/128', 'FE80::/10'])('accepts %s', (text) => {
    expect(parseCidrStrict(text).error).toBeUndefined();
  });

  it.each(['010.0.0.0/8', '10.0.0.0/08', '::ffff:10.0.0.0/104', '::ffff:a00:0/104', '00001::/64', 'fe80::1%eth0/64', '10.0.0.0', '10.0.0.0/33', '10.0.0.0/-1'])('rejects %s', (text) => {
    expect(parseCidrStrict(text).error).toBeDefined();
  });
});

describe('isStrictSubnet (ValidateIPBlock except)', () => {
  it.each([
    ['10.0.0.0/8', '10.1.0.0/16', true],
    ['10.0.0.0/8', '10.255.255.255/32', true],
    ['0.0.0.0/0', '10.0.0.0/8', true],
    ['2001:db8::/32', '2001:db8:1::/48', true],
    ['10.244.1.10/4', '10.244.1.11/32', true],
    ['10.0.0.0/8', '10.0.0.0/8', false],
    ['10.0.0.0/16', '10.0.0.0/8', false],
    ['10.0.0.0/16', '10.1.0.0/24', false],
    ['10.0.0.0/8', 'fd00::/64', false],
    ['::/0', '10.0.0.0/8', false],
    ['0.0.0.0/0', '::/1', false],
    // Go compares IPv4-mapped IPv6 with IPv4 as the same addresses: accepted upstream too.
    ['10.0.0.0/8', '::ffff:10.1.0.0/112', true],
  ] as const)('%s except %s -> %s', (outer, inner, expected) => {
    expect(isStrictSubnet(net(outer), net(inner))).toBe(expected);
  });
});
