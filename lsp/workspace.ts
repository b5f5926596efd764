// The workspace as the server sees it: every YAML file of the workspace folders that holds
// policies or cluster objects, the snapshot files configured in `policyc.snapshotPaths`,
// manifests (for label completion) and .policytest files. Open documents override the disk.
// `analyze()` recompiles incrementally (only changed files are parsed and checked again).

import { basename, isAbsolute, relative, resolve, sep } from 'node:path';
import type { SourceFile } from '../compiler/syntax/source.js';
import { LintCache } from '../compiler/lint/index.js';
import { Analysis } from './analysis/analysis.js';
import { IncrementalCompiler } from './analysis/incremental.js';
import { INPUT_FILE, listFiles, pathToUri, POLICYTEST_FILE, readText, roleOf, uriToPath, type FileRole } from './files.js';

export interface Settings {
  /** Files or folders with a cluster snapshot or manifests; relative to the first workspace folder. */
  snapshotPaths: string[];
  /** Delay between an edit and the next diagnosis. */
  debounceMs: number;
  /** Pod and Service ranges for PC2012, besides the nodes' podCIDRs. */
  podCIDRs: string[];
  serviceCIDRs: string[];
}

export const DEFAULT_SETTINGS: Settings = { snapshotPaths: [], debounceMs: 10, podCIDRs: [], serviceCIDRs: [] };

/** Settings from the client, checked: anything malformed falls back to the default. */
export function parseSettings(raw: unknown): Settings {
  const obj = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const debounce = typeof obj.debounceMs === 'number' && obj.debounceMs >= 0 && obj.debounceMs <= 5000 ? obj.debounceMs : DEFAULT_SETTINGS.debounceMs;
  return { snapshotPaths: strings(obj.snapshotPaths), debounceMs: debounce, podCIDRs: strings(obj.podCIDRs), serviceCIDRs: strings(obj.serviceCIDRs) };
}

interface OpenDocument {
  text: string;
  version: number;
}

export class Workspace {
  folders: string[] = [];
  settings: Settings = DEFAULT_SETTINGS;
  /** Texts on disk of the files that matter (policies, cluster, manifests, tests), by URI. */
  private readonly disk = new Map<string, string>();
  /** URIs that came from `snapshotPaths`: compiled whatever their kinds. */
  private configured = new Set<string>();
  private readonly open = new Map<string, OpenDocument>();
  private readonly sourceFiles = new Map<string, SourceFile>();
  private readonly uriByName = new Map<string, string>();
  /** nameOf's answers (URL parsing and path.relative are not free on every keystroke). */
  private readonly nameByUri = new Map<string, string>();
  /** roleOf's answer per URI for the text it was computed on. */
  private readonly roles = new Map<string, { text: string; role: FileRole }>();
  readonly compiler = new IncrementalCompiler();
  private readonly lintCache = new LintCache();
  /** Text of each open document when it was opened or last saved: "before" for edit impact. */
  readonly baselines = new Map<string, string>();
  private generation = 0;
  private latest: Analysis | undefined;
  private dirty = true;
  /** Bumped whenever a manifest or cluster file changes (label completion caches on it). */
  labelsVersion = 0;
  loaded = false;

  setFolders(paths: readonly string[]): void {
    this.folders = [...paths];
    this.uriByName.clear();
    this.nameByUri.clear();
  }

  /** A stable, readable name for a URI: the path relative to its workspace folder. */
  nameOf(uri: string): string {
    const cached = this.nameByUri.get(uri);
    if (cached !== undefined) {
      this.uriByName.set(cached, uri);
      return cached;
    }
    const path = uriToPath(uri);
    let name = uri;
    if (path) {
      name = path;
      for (const folder of this.folders) {
        const rel = relative(folder, path);
        if (!rel.startsWith('..') && !isAbsolute(rel)) {
          const inFolder = rel.split(sep).join('/');
          name = this.folders.length > 1 ? `${basename(folder)}/${inFolder}` : inFolder;
          break;
        }
      }
    }
    this.uriByName.set(name, uri);
    this.nameByUri.set(uri, name);
    return name;
  }

  uriOf(name: string): string {
    const known = this.uriByName.get(name);
    if (known) return known;
    if (isAbsolute(name)) return pathToUri(name);
    return this.folders[0] ? pathToUri(resolve(this.folders[0], name)) : name;
  }

  /** The text of a document: the editor's when open, else the disk's. */
  text(uri: string): string | undefined {
    return this.open.get(uri)?.text ?? this.disk.get(uri);
  }

  version(uri: string): number | undefined {
    return this.open.get(uri)?.version;
  }

  isOpen(uri: string): boolean {
    return this.open.has(uri);
  }

  /** The configured snapshot paths, absolute. */
  snapshotRoots(): string[] {
    const base = this.folders[0] ?? process.cwd();
    return this.settings.snapshotPaths.map((p) => (isAbsolute(p) ? p : resolve(base, p)));
  }

  /** Reads every relevant file of the folders and of the snapshot paths. */
  async load(): Promise<void> {
    const [inFolders, inSnapshots] = await Promise.all([listFiles(this.folders), listFiles(this.snapshotRoots())]);
    const configured = new Set(inSnapshots.filter((p) => INPUT_FILE.test(p)).map(pathToUri));
    this.disk.clear();
    this.roles.clear();
    for (const path of [...inFolders, ...inSnapshots]) {
      const uri = pathToUri(path);
      if (this.disk.has(uri)) continue;
      const text = await readText(path);
      if (text === undefined) continue;
      if (configured.has(uri) || POLICYTEST_FILE.test(path) || roleOf(text) !== 'other') this.disk.set(uri, text);
    }
    this.configured = configured;
    this.loaded = true;
    this.labelsVersion++;
    this.touch();
  }

  /** A file changed on disk (watcher): read it again. */
  async refreshFromDisk(uri: string): Promise<void> {
    const path = uriToPath(uri);
    const text = path ? await readText(path) : undefined;
    if (text === undefined || (!this.configured.has(uri) && !POLICYTEST_FILE.test(uri) && roleOf(text) === 'other')) this.disk.delete(uri);
    else this.disk.set(uri, text);
    this.labelsVersion++;
    this.touch();
  }

  openDocument(uri: string, text: string, version: number): void {
    this.open.set(uri, { text, version });
    this.baselines.set(uri, text);
    this.afterEdit(uri);
  }

  changeDocument(uri: string, text: string, version: number): void {
    this.open.set(uri, { text, version });
    this.afterEdit(uri);
  }

  saveDocument(uri: string): void {
    const doc = this.open.get(uri);
    if (doc) this.baselines.set(uri, doc.text);
    if (doc && this.disk.has(uri)) this.disk.set(uri, doc.text);
  }

  closeDocument(uri: string): void {
    this.open.delete(uri);
    this.baselines.delete(uri);
    this.afterEdit(uri);
  }

  private afterEdit(uri: string): void {
    const role = this.roleOfUri(uri);
    if (role === 'cluster' || role === 'manifest') this.labelsVersion++;
    this.touch();
  }

  touch(): void {
    this.dirty = true;
  }

  get isDirty(): boolean {
    return this.dirty;
  }

  roleOfUri(uri: string): FileRole | 'policytest' {
    if (POLICYTEST_FILE.test(uri)) return 'policytest';
    const text = this.text(uri);
    if (text === undefined) return 'other';
    let known = this.roles.get(uri);
    if (!known || known.text !== text) this.roles.set(uri, (known = { text, role: roleOf(text) }));
    if (this.configured.has(uri)) return known.role === 'other' ? 'cluster' : known.role;
    return known.role;
  }

  /** URIs of every document the compiler reads: policies and cluster objects, open or not. */
  compiledUris(): string[] {
    const uris = new Set<string>();
    for (const uri of [...this.disk.keys(), ...this.open.keys()]) {
      const role = this.roleOfUri(uri);
      if (role === 'policy' || role === 'cluster') uris.add(uri);
    }
    return [...uris].sort();
  }

  /** Manifests and cluster files, for label completion. */
  labelSourceUris(): string[] {
    return [...new Set([...this.disk.keys(), ...this.open.keys()])].filter((u) => {
      const role = this.roleOfUri(u);
      return role === 'manifest' || role === 'cluster' || role === 'policy';
    });
  }

  policyTestUris(): string[] {
    return [...new Set([...this.disk.keys(), ...this.open.keys()])].filter((u) => POLICYTEST_FILE.test(u)).sort();
  }

  /** The SourceFile for a URI's current text (the same object while the text is unchanged). */
  sourceFile(uri: string): SourceFile | undefined {
    const text = this.text(uri);
    if (text === undefined) return undefined;
    const name = this.nameOf(uri);
    const cached = this.sourceFiles.get(uri);
    if (cached && cached.text === text && cached.name === name) return cached;
    const file = { name, text };
    this.sourceFiles.set(uri, file);
    return file;
  }

  /** Compiles and lints the workspace now. */
  analyze(): Analysis {
    const t0 = performance.now();
    const uris = this.compiledUris();
    const files = uris.map((u) => this.sourceFile(u)).filter((f): f is SourceFile => !!f);
    this.compiler.retain(new Set(files.map((f) => f.name)));
    const compilation = this.compiler.compile(files);
    const elapsed = { compile: performance.now() - t0, lint: 0 };
    this.latest = new Analysis(++this.generation, compilation, { podCIDRs: this.settings.podCIDRs, serviceCIDRs: this.settings.serviceCIDRs }, elapsed, this.lintCache);
    this.dirty = false;
    return this.latest;
  }

  /** The latest analysis, recomputed first when something changed since. */
  current(): Analysis {
    return !this.dirty && this.latest ? this.latest : this.analyze();
  }

  /** The latest analysis, even if stale. */
  get last(): Analysis | undefined {
    return this.latest;
  }
}
