// Requested addresses from runtimeConfig.ips and CNI_ARGS IP: merged, canonical, validated.
import { describe, expect, it } from 'vitest';
import { requestedAddresses } from './requested.js';

describe('requestedAddresses', () => {
  it('merges the ips capability with CNI_ARGS IP, canonically and without duplicates', () => {
    expect(requestedAddresses([], {})).toEqual([]);
    expect(requestedAddresses(['10.1.0.5'], { IgnoreUnknown: '1' })).toEqual(['10.1.0.5']);
    expect(requestedAddresses([], { IP: 'fd00:0:0::5/64' })).toEqual(['fd00::5']);
    expect(requestedAddresses(['fd00::5'], { IP: '10.1.0.5, fd00::5' })).toEqual(['fd00::5', '10.1.0.5']);
  });

  it('refuses a CNI_ARGS IP that is not an address (error 4)', () => {
    expect(() => requestedAddresses([], { IP: '10.1.0.5,nope' })).toThrow(expect.objectContaining({ code: 4, details: 'nope' }));
  });
});
