// On-disk layout of our own IPAM, host-local style: <dir>/<ip> holds the owner
// ({containerId, ifname}) of one reservation; <dir>/last-reserved-ip.<family> remembers
// where round-robin allocation resumes. One file per IP replaced atomically, so a crash
// mid-ADD leaves a reservation with a known owner that DEL or GC can release.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDir, removeFile, writeFileAtomic } from '../../dataplane/daemon/atomic-file.js';
import type { Attachment } from '../config.js';
import { familyOf, type Family } from './cidr.js';

export class IpamStore {
  constructor(readonly dir: string) {}

  async load(): Promise<{ reservations: Map<string, Attachment>; last: Map<Family, string> }> {
    await ensureDir(this.dir);
    const reservations = new Map<string, Attachment>();
    const last = new Map<Family, string>();
    for (const name of await readdir(this.dir)) {
      const text = await readFile(join(this.dir, name), 'utf8').catch(() => '');
      if (name.startsWith('last-reserved-ip.')) {
        const ip = text.trim();
        const fam = familyOf(ip);
        if (fam) last.set(fam, ip);
      } else if (familyOf(name)) {
        // an unreadable owner still blocks the IP; GC (owner not listed) releases it
        let owner: Attachment = { containerId: '', ifname: '' };
        try {
          owner = JSON.parse(text) as Attachment;
        } catch {}
        reservations.set(name, owner);
      }
    }
    return { reservations, last };
  }

  async reserve(ip: string, owner: Attachment): Promise<void> {
    await writeFileAtomic(join(this.dir, ip), JSON.stringify(owner));
  }

  async release(ip: string): Promise<void> {
    await removeFile(join(this.dir, ip));
  }

  async saveLast(family: Family, ip: string): Promise<void> {
    await writeFileAtomic(join(this.dir, `last-reserved-ip.${family}`), ip);
  }
}
