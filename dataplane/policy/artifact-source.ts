// Artifacts from a directory (`policyc compile -o DIR`, a mounted ConfigMap, ...): the engine
// reacts when manifest.json changes. The writer renames every file into place and manifest.json
// last (cli/write-artifact.ts), so a manifest names files that are already there; if a newer
// artifact is being written while we read, the hash does not match and we read again shortly
// before handing it over (the engine then refuses it, with a log line, if it still does not).
// fs.watch plus a slow poll: watch events are lost on some filesystems and when the directory
// itself is swapped (ConfigMap `..data` symlink flips).
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { verifyArtifact } from '../../compiler/emit/artifact.js';

export interface DirSourceOptions {
  dir: string;
  /** contentHash of the last artifact taken from this directory (not handed over again) */
  lastSeen?: string;
  pollMs?: number;
  onArtifact(files: Map<string, string>, hash: string): Promise<void>;
  log(msg: string): void;
}

const RETRIES = 5;
const RETRY_MS = 100;

export class ArtifactDirSource {
  private watcher?: FSWatcher;
  private poll?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();
  private closed = false;
  private lastSeen?: string;

  constructor(private readonly o: DirSourceOptions) {
    this.lastSeen = o.lastSeen;
  }

  /** Checks once now, then on every change of the directory. */
  async start(): Promise<void> {
    await this.check();
    try {
      this.watcher = watch(this.o.dir, (_event, name) => {
        if (name === null || name === 'manifest.json' || name === '..data') this.schedule();
      });
      this.watcher.on('error', () => undefined);
    } catch (err) {
      this.o.log(`policy: cannot watch ${this.o.dir} (${(err as Error).message}); polling only`);
    }
    this.poll = setInterval(() => this.schedule(), this.o.pollMs ?? 2000);
    this.poll.unref();
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.running = this.running.then(() => this.check()).catch((err: Error) => this.o.log(`policy: ${this.o.dir}: ${err.message}`));
    }, 20);
  }

  /** Reads the directory; hands over an artifact whose manifest hash was not seen yet. */
  async check(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.closed) return;
      const files = await readArtifactDir(this.o.dir);
      if (!files) return; // no manifest (yet)
      const text = files.get('manifest.json')!;
      // an unparsable manifest is keyed by its text so it is refused once, not at every poll
      const hash = manifestHash(text) ?? `manifest-sha256:${createHash('sha256').update(text).digest('hex')}`;
      if (hash === this.lastSeen) return;
      const v = verifyArtifact(files);
      if (!v.ok && attempt < RETRIES) {
        await new Promise((r) => setTimeout(r, RETRY_MS));
        continue;
      }
      this.lastSeen = hash;
      await this.o.onArtifact(files, hash);
      return;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.debounce);
    clearInterval(this.poll);
    this.watcher?.close();
    await this.running;
  }
}

function manifestHash(text: string): string | undefined {
  try {
    const h = (JSON.parse(text) as { contentHash?: unknown }).contentHash;
    return typeof h === 'string' ? h : undefined;
  } catch {
    return undefined;
  }
}

/** manifest.json and every file it names (missing ones left out: verification reports them). */
export async function readArtifactDir(dir: string): Promise<Map<string, string> | undefined> {
  let manifest: string;
  try {
    manifest = await readFile(join(dir, 'manifest.json'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const files = new Map<string, string>([['manifest.json', manifest]]);
  let names: string[] = [];
  try {
    names = Object.keys((JSON.parse(manifest) as { files?: Record<string, string> }).files ?? {});
  } catch {
    return files;
  }
  for (const name of names) {
    if (name.includes('/') || name.startsWith('.')) continue;
    try {
      files.set(name, await readFile(join(dir, name), 'utf8'));
    } catch {}
  }
  return files;
}
