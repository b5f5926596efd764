// State files are replaced with write-to-temp + rename: a crash (kill -9, power loss
// between writes) leaves either the old or the new content, never half a file.
//
// Synchronous on purpose: these files are a few hundred bytes on local disk, and each
// async fs call is a round trip through libuv's thread pool; on a busy 2-core node an ADD
// doing 4 writes x 4 calls that way waited milliseconds for thread wake-ups alone, where the
// sync calls take tens of microseconds of event-loop time.
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

export async function writeFileAtomic(path: string, data: string): Promise<void> {
  writeFileAtomicSync(path, data);
}

/** The same, for callers that must finish before their next statement (a worker thread's message handler). */
export function writeFileAtomicSync(path: string, data: string): void {
  const tmp = join(dirname(path), `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    // no fsync: it costs milliseconds on every ADD; rename alone keeps a crashed *process*
    // (kill -9) consistent, and after a machine crash GC releases what the runtime forgot
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw err;
  }
}

export async function ensureDir(path: string): Promise<void> {
  mkdirSync(path, { recursive: true, mode: 0o700 });
}

export async function removeFile(path: string): Promise<void> {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
