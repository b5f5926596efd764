import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Endpoint, EndpointRegistry } from './endpoints.js';

const ep = (phase: Endpoint['phase']): Endpoint => ({
  containerId: 'c1',
  ifname: 'eth0',
  network: 'n',
  netns: '/run/netns/x',
  namespace: 'default',
  podName: 'web',
  ips: ['10.0.0.5/32'],
  hostVeth: 'pc0123456789a',
  phase,
});

describe('EndpointRegistry', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pcni-ep-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('emits add when an endpoint becomes ready and remove when it leaves', async () => {
    const reg = await EndpointRegistry.open(dir);
    const events: string[] = [];
    reg.on('add', (e) => events.push(`add ${e.podName}`));
    reg.on('remove', (e) => events.push(`remove ${e.podName}`));
    await reg.put(ep('creating'));
    expect(reg.live()).toEqual([]);
    await reg.put(ep('ready'));
    await reg.put(ep('ready'));
    expect(reg.live()).toHaveLength(1);
    await reg.put(ep('deleting'));
    await reg.delete('c1', 'eth0');
    expect(events).toEqual(['add web', 'remove web']);
  });

  it('persists records across a restart', async () => {
    const reg = await EndpointRegistry.open(dir);
    await reg.put(ep('ready'));
    const again = await EndpointRegistry.open(dir);
    expect(again.get('c1', 'eth0')).toEqual(ep('ready'));
    await again.delete('c1', 'eth0');
    expect((await EndpointRegistry.open(dir)).list()).toEqual([]);
  });
});
