// Structural mutations of parsed policy objects, for the fuzz tests: every path into a value,
// and one edit (set, delete, or add a field) at a path.

export type Path = Array<string | number>;

/** Every path into `value`, the root ([]) first, depth first. */
export function pathsOf(value: unknown, path: Path = [], out: Path[] = []): Path[] {
  out.push(path);
  if (Array.isArray(value)) value.forEach((item, i) => pathsOf(item, [...path, i], out));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) pathsOf(v, [...path, k], out);
  return out;
}

/**
 * One edit at a non-root `path` of `root` (in place): `set` replaces the value, `delete` removes
 * it (array items are spliced out), `add` puts `field: value` into the object there (or replaces
 * a non-object there with `{field: value}`).
 */
export function mutateAt(root: unknown, path: Path, op: 'set' | 'delete' | 'add', field: string, value: unknown): void {
  const parent = path.slice(0, -1).reduce<unknown>((node, seg) => (node as Record<string | number, unknown>)[seg], root) as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (op === 'set') parent[last] = value;
  else if (op === 'delete') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else {
    const target = parent[last];
    if (target !== null && typeof target === 'object' && !Array.isArray(target)) (target as Record<string, unknown>)[field] = value;
    else parent[last] = { [field]: value };
  }
}
