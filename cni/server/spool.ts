// DELs the C plugin queued while the daemon was unreachable (it writes one request per
// file, via rename). Replayed before the socket opens, and rescanned now and then for a
// DEL that raced a restart.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDir, removeFile } from '../../dataplane/daemon/atomic-file.js';

export async function replaySpool(dir: string, handle: (request: unknown) => Promise<{ exitCode: number }>, log: (msg: string) => void): Promise<number> {
  await ensureDir(dir);
  const names = (await readdir(dir)).filter((n) => n.startsWith('del-') && n.endsWith('.json')).sort();
  for (const name of names) {
    const path = join(dir, name);
    let request: unknown;
    try {
      request = JSON.parse(await readFile(path, 'utf8'));
    } catch (err) {
      log(`spool: dropping unreadable ${name}: ${(err as Error).message}`);
      await removeFile(path);
      continue;
    }
    const reply = await handle(request);
    // a DEL that fails now (e.g. delegated IPAM missing) would fail forever: log and drop
    if (reply.exitCode !== 0) log(`spool: replayed ${name} failed: ${JSON.stringify(reply)}`);
    await removeFile(path);
  }
  if (names.length) log(`spool: replayed ${names.length} queued DEL(s)`);
  return names.length;
}
