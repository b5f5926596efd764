// The object as the API server decodes it, before any check looks at it:
// - a field set to null is absent (Go's JSON decoding leaves the zero value; CRDs prune it),
//   except in string maps (labels, annotations, matchLabels) where null decodes to "";
// - YAML timestamps that js-yaml turned into Dates are strings again (their source text);
// - reference cycles made with YAML aliases are cut (no JSON value has them).
// Keys and list indices are kept, so a path into the result is a path into the source.

import type { Sourced } from '../model/inputs.js';
import type { PathSegment } from '../syntax/documents.js';
import { Reporter } from './reporter.js';

const STRING_MAPS = new Set(['labels', 'annotations', 'matchLabels']);

export function normalize(src: Sourced): unknown {
  const reporter = new Reporter(src);
  const onPath = new Set<object>();
  const sourceText = (path: PathSegment[]): string => {
    const span = reporter.span(path);
    return src.doc.file.text.slice(span.start, span.end).replace(/^(["'])(.*)\1$/s, '$2');
  };

  // The path to a node is only needed for a Date's source text: keep a trail, build it then.
  type Trail = { readonly parent: Trail; readonly seg: PathSegment } | undefined;
  const pathOf = (trail: Trail): PathSegment[] => {
    const path: PathSegment[] = [];
    for (let t = trail; t; t = t.parent) path.push(t.seg);
    return path.reverse();
  };
  const visit = (value: unknown, trail: Trail, inStringMap: boolean): unknown => {
    if (value instanceof Date) return sourceText(pathOf(trail));
    if (value === null || typeof value !== 'object') return value;
    if (onPath.has(value)) return undefined;
    onPath.add(value);
    let out: unknown;
    if (Array.isArray(value)) {
      out = value.map((item, i) => (item !== null && typeof item === 'object' ? visit(item, { parent: trail, seg: i }, false) : item));
    } else {
      const obj: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
        if (child === null || child === undefined) {
          if (inStringMap) obj[key] = '';
          continue;
        }
        const copied = typeof child === 'object' ? visit(child, { parent: trail, seg: key }, STRING_MAPS.has(key)) : child;
        if (copied !== undefined) obj[key] = copied;
      }
      out = obj;
    }
    onPath.delete(value);
    return out;
  };
  return visit(src.object, undefined, false);
}

/**
 * Whether normalize(src) would give a value equal to `src.object` itself, so that checks can
 * read the object in place rather than a copy (copying every policy was the largest cost of
 * checking): only plain mappings and lists, no field set to null, no timestamp, and (if the
 * document can have aliases) no node reached twice.
 */
export function isNormalized(src: Sourced): boolean {
  const seen = mayHaveAliases(src) ? new Set<object>() : undefined;
  return isPlainTree(src.object, seen);
}

const anchorsByFile = new WeakMap<object, boolean>();

/** No alias resolves without an anchor (`&`) in the text. */
function mayHaveAliases(src: Sourced): boolean {
  const file = src.doc.file;
  let anchors = anchorsByFile.get(file);
  if (anchors === undefined) {
    anchors = file.text.includes('&');
    anchorsByFile.set(file, anchors);
  }
  return anchors;
}

function isPlainTree(value: unknown, seen: Set<object> | undefined): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (seen) {
    if (seen.has(value)) return false;
    seen.add(value);
  }
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return false;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item !== null && typeof item === 'object' && !isPlainTree(item, seen)) return false;
    }
    return true;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return false; // a Date, a binary, a null-prototype object
  const obj = value as Record<string, unknown>;
  for (const key in obj) {
    if (!Object.prototype.hasOwnProperty.call(obj, key)) continue;
    const child = obj[key];
    if (child === null || child === undefined) return false;
    if (typeof child === 'object' && !isPlainTree(child, seen)) return false;
  }
  return true;
}
