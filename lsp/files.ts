// The only file of the server that reads the disk: finding the workspace's YAML files and
// reading them. Everything else works on texts.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const INPUT_FILE = /\.(ya?ml|json)$/i;
export const POLICYTEST_FILE = /\.policytest$/i;
const SKIP_DIRS = new Set(['node_modules', 'dist', 'out', 'vendor', 'target']);
/** Largest file the server reads from disk (a big snapshot is tens of MB). */
const MAX_BYTES = 64 * 1024 * 1024;
const MAX_FILES = 20_000;

const POLICY_KIND = /^\s*["']?kind["']?\s*:\s*["']?(NetworkPolicy|AdminNetworkPolicy|BaselineAdminNetworkPolicy)\b/m;
const CLUSTER_KIND = /^\s*["']?kind["']?\s*:\s*["']?(Pod|Namespace|Node|List|PodList|NamespaceList|NodeList)["']?\s*,?\s*$/m;
const WORKLOAD_KIND = /^\s*["']?kind["']?\s*:\s*["']?(Deployment|StatefulSet|DaemonSet|ReplicaSet|Job|CronJob|Namespace|Pod)\b/m;

export type FileRole = 'policy' | 'cluster' | 'manifest' | 'other';

/**
 * What a YAML/JSON text is to policyc, from its `kind:` lines: policies and cluster objects
 * are compiled; other Kubernetes manifests only feed label completion; anything else (CI
 * configs, Helm templates) is left alone.
 */
export function roleOf(text: string): FileRole {
  if (text.includes('{{')) return 'other'; // a template, not YAML yet
  if (POLICY_KIND.test(text)) return 'policy';
  if (CLUSTER_KIND.test(text)) return 'cluster';
  if (WORKLOAD_KIND.test(text)) return 'manifest';
  return 'other';
}

export function uriToPath(uri: string): string | undefined {
  if (!uri.startsWith('file:')) return undefined;
  try {
    return fileURLToPath(uri);
  } catch {
    return undefined;
  }
}

export function pathToUri(path: string): string {
  return pathToFileURL(path).href;
}

/** Every YAML/JSON/.policytest file under the folders, sorted, without dot folders and build output. */
export async function listFiles(roots: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, depth: number) => {
    if (depth > 12 || out.length >= MAX_FILES) return;
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = join(dir, e.name);
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) await walk(full, depth + 1);
      } else if (e.isFile() && (INPUT_FILE.test(e.name) || POLICYTEST_FILE.test(e.name))) {
        out.push(full);
      }
    }
  };
  for (const root of roots) {
    try {
      const s = await stat(root);
      if (s.isDirectory()) await walk(root, 0);
      else if (s.isFile()) out.push(root);
    } catch {
      // A configured path that does not exist: nothing to read.
    }
  }
  return [...new Set(out)];
}

export async function readText(path: string): Promise<string | undefined> {
  try {
    const s = await stat(path);
    if (!s.isFile() || s.size > MAX_BYTES) return undefined;
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

export function readTextSync(path: string): string | undefined {
  try {
    const s = statSync(path);
    if (!s.isFile() || s.size > MAX_BYTES) return undefined;
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** YAML/JSON files at a path (a file, or a folder walked in sorted order), synchronously. */
export function listInputsSync(path: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 12 || out.length >= MAX_FILES) return;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = join(dir, e.name);
      if (e.isDirectory()) walk(full, depth + 1);
      else if (e.isFile() && INPUT_FILE.test(e.name)) out.push(full);
    }
  };
  try {
    const s = statSync(path);
    if (s.isDirectory()) walk(path, 0);
    else if (s.isFile()) out.push(path);
  } catch {
    // missing: the caller reports it
  }
  return out;
}
