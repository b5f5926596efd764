// Every name the lab gives a kernel object or a file carries the lab's name, so `lab down`
// (and the cleanup after a crashed run) finds all of it by prefix:
//   netns  pl-<lab>-u (underlay), pl-<lab>-n<i> (node i), pl-<lab>-<ns>.<pod> (pods; hashed
//          when long), state  <root>/<lab>/ (default root /run/policyc-lab).
// Lab names are lowercase letters and digits only: with a dash allowed, lab "a"'s prefix
// pl-a- would also match lab "a-b"'s namespaces.
import { createHash } from 'node:crypto';
import { join } from 'node:path';

export const LAB_ROOT = process.env.POLICYC_LAB_ROOT ?? '/run/policyc-lab';
export const DEFAULT_LAB = 'default';
const LAB_NAME_RE = /^[a-z0-9]{1,16}$/;

export function labNameProblem(name: string): string | undefined {
  return LAB_NAME_RE.test(name) ? undefined : `lab name '${name}' must be 1-16 lowercase letters or digits`;
}

export function checkLabName(name: string): void {
  const problem = labNameProblem(name);
  if (problem) throw new Error(problem);
}

export const labDir = (lab: string): string => join(LAB_ROOT, lab);
export const netnsPrefix = (lab: string): string => `pl-${lab}-`;
export const underlayNetns = (lab: string): string => `pl-${lab}-u`;
export const nodeNetns = (lab: string, index: number): string => `pl-${lab}-n${index}`;
export const netnsPath = (netns: string): string => `/run/netns/${netns}`;

export function shortHash(text: string, chars = 12): string {
  return createHash('sha256').update(text).digest('hex').slice(0, chars);
}

/** `pl-<lab>-<ns>.<pod>` (namespaces have no dots, so it cannot collide), hashed past 48 chars. */
export function podNetns(lab: string, namespace: string, pod: string): string {
  const plain = `pl-${lab}-${namespace}.${pod}`;
  if (plain.length <= 48 && /^[a-z0-9.-]+$/.test(plain)) return plain;
  const readable = `${namespace}.${pod}`.replace(/[^a-z0-9.-]/g, '').slice(0, 20);
  return `pl-${lab}-${readable}-${shortHash(`${namespace}/${pod}`)}`;
}

/** CNI_CONTAINERID of a pod's sandbox; the generation changes when a pod is re-created. */
export function containerId(lab: string, namespace: string, pod: string, generation: number): string {
  return `pl${lab}${shortHash(`${lab}/${namespace}/${pod}/${generation}`, 24)}`;
}
