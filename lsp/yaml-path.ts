// Where an offset falls inside a policy: which policy, and the path of keys and indices from
// the policy object down to the innermost node there. Uses the spans the compiler's parser
// already recorded, so it always agrees with the diagnostics.

import { fieldSpan, type Sourced } from '../compiler/model/inputs.js';
import type { PathSegment } from '../compiler/syntax/documents.js';

export interface PolicyLocation {
  src: Sourced;
  /** From the policy object; empty on the object itself. */
  path: PathSegment[];
  /** Span of the innermost node (its value; for a key, the key and its value). */
  start: number;
  end: number;
  /** True when the offset is on the last key itself rather than inside its value. */
  onKey: boolean;
}

export function policyAt(policies: readonly Sourced[], offset: number): Sourced | undefined {
  return policies.find((src) => {
    const span = fieldSpan(src, []);
    return offset >= span.start && offset <= span.end;
  });
}

export function locateInPolicy(src: Sourced, offset: number): PolicyLocation {
  const positions = src.doc.positions;
  const root = fieldSpan(src, []);
  const loc: PolicyLocation = { src, path: [], start: root.start, end: root.end, onKey: false };
  let node: unknown = src.object;
  for (let depth = 0; depth < 64 && positions && node !== null && typeof node === 'object'; depth++) {
    const span = positions.get(node);
    if (!span) break;
    let next: unknown;
    if (span.keys) {
      let hit: [string, [number, number, number]] | undefined;
      for (const entry of span.keys) {
        const [keyStart, , valueEnd] = entry[1];
        if (offset >= keyStart && offset <= Math.max(valueEnd, keyStart + entry[0].length)) hit = entry;
      }
      if (!hit) break;
      const [key, [keyStart, valueStart, valueEnd]] = hit;
      loc.path.push(key);
      loc.onKey = offset < valueStart || offset <= keyStart + key.length;
      loc.start = keyStart;
      loc.end = Math.max(valueEnd, keyStart + key.length);
      next = (node as Record<string, unknown>)[key];
    } else if (span.items && Array.isArray(node)) {
      const index = span.items.findIndex(([s, e]) => offset >= s && offset <= e);
      if (index < 0) break;
      loc.path.push(index);
      loc.onKey = false;
      [loc.start, loc.end] = span.items[index];
      next = node[index];
    } else {
      break;
    }
    node = next;
  }
  return loc;
}
