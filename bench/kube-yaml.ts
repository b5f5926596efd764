// YAML as `kubectl get -o yaml` prints it (sigs.k8s.io/yaml over go-yaml v2): keys sorted the
// go-yaml way, 2-space indentation, block style, sequences not indented under their key,
// strings that would read as another type double-quoted, other unsafe strings single-quoted.
// Enough for the objects the generator makes (no multi-line or long folded strings).

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isLetter = (c: string) => /\p{L}/u.test(c);
const isDigit = (c: string) => c >= '0' && c <= '9';

/** go-yaml v2 keyList.Less for string keys: non-letters before letters, digit runs numerically. */
export function goYamlKeyLess(a: string, b: string): boolean {
  const ar = [...a];
  const br = [...b];
  for (let i = 0; i < ar.length && i < br.length; i++) {
    if (ar[i] === br[i]) continue;
    const al = isLetter(ar[i]);
    const bl = isLetter(br[i]);
    if (al && bl) return ar[i] < br[i];
    if (al || bl) return bl;
    let an = 0;
    let bn = 0;
    let ai = i;
    let bi = i;
    for (; ai < ar.length && isDigit(ar[ai]); ai++) an = an * 10 + Number(ar[ai]);
    for (; bi < br.length && isDigit(br[bi]); bi++) bn = bn * 10 + Number(br[bi]);
    if (an !== bn) return an < bn;
    if (ai !== bi) return ai < bi;
    return ar[i] < br[i];
  }
  return ar.length < br.length;
}

const sortedKeysCache = new Map<string, string[]>();

function sortedKeys(obj: Record<string, Json>): string[] {
  const keys = Object.keys(obj);
  const sig = keys.join('\u0000');
  let sorted = sortedKeysCache.get(sig);
  if (!sorted) {
    sorted = [...keys].sort((a, b) => (goYamlKeyLess(a, b) ? -1 : goYamlKeyLess(b, a) ? 1 : 0));
    if (sortedKeysCache.size < 10_000) sortedKeysCache.set(sig, sorted);
  }
  return sorted;
}

// YAML 1.1 words and numbers go-yaml would resolve to another type, plus timestamps.
const NON_STRING = /^(~|null|Null|NULL|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|[-+]?(0|[1-9][0-9_]*)|[-+]?0b[01_]+|[-+]?0[0-7_]+|[-+]?0x[0-9a-fA-F_]+|[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)|\d{4}-\d\d?-\d\d?([Tt ].*)?)$/;

function scalar(value: string | number | boolean | null): string {
  if (value === null) return 'null';
  if (typeof value !== 'string') return String(value);
  if (value === '' || NON_STRING.test(value)) return JSON.stringify(value);
  const plainUnsafe =
    /^[-?:,[\]{}#&*!|>'"%@`\s]/.test(value) || /\s$/.test(value) || value.includes(': ') || value.includes(' #') || value.endsWith(':');
  return plainUnsafe ? `'${value.replace(/'/g, "''")}'` : value;
}

function isEmptyCollection(v: Json): string | undefined {
  if (Array.isArray(v)) return v.length === 0 ? '[]' : undefined;
  if (v !== null && typeof v === 'object') return Object.keys(v).length === 0 ? '{}' : undefined;
  return undefined;
}

function emit(value: Json, indent: string, out: string[], firstPrefix: string): void {
  const empty = isEmptyCollection(value);
  if (empty !== undefined || value === null || typeof value !== 'object') {
    out.push(`${firstPrefix}${empty ?? scalar(value as string | number | boolean | null)}`);
    return;
  }
  if (Array.isArray(value)) {
    let prefix = firstPrefix;
    for (const item of value) {
      // Every item line starts at `indent` with "- "; nested content goes 2 further in.
      const itemPrefix = `${prefix}- `;
      const empty2 = isEmptyCollection(item);
      if (empty2 !== undefined || item === null || typeof item !== 'object') out.push(`${itemPrefix}${empty2 ?? scalar(item as string | number | boolean | null)}`);
      else emit(item, `${indent}  `, out, itemPrefix);
      prefix = indent;
    }
    return;
  }
  let prefix = firstPrefix;
  for (const key of sortedKeys(value)) {
    const child = value[key];
    const head = `${prefix}${scalar(key)}:`;
    const empty2 = isEmptyCollection(child);
    if (empty2 !== undefined || child === null || typeof child !== 'object') out.push(`${head} ${empty2 ?? scalar(child as string | number | boolean | null)}`);
    else if (Array.isArray(child)) {
      out.push(head);
      emit(child, indent, out, indent);
    } else {
      out.push(head);
      emit(child, `${indent}  `, out, `${indent}  `);
    }
    prefix = indent;
  }
}

/** One object (or a List) as kubectl prints it, ending in a newline. */
export function toKubectlYaml(value: unknown): string {
  const out: string[] = [];
  emit(value as Json, '', out, '');
  return `${out.join('\n')}\n`;
}

/** `kubectl get -o json`: 4-space indentation, fields in the order the object has them. */
export function toKubectlJson(value: unknown): string {
  return `${JSON.stringify(value, null, 4)}\n`;
}

/** A `kind: List` as kubectl wraps the result of `get` over several objects. */
export function kubeList(items: readonly unknown[]): Record<string, unknown> {
  return { apiVersion: 'v1', items, kind: 'List', metadata: { resourceVersion: '' } };
}
