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

  const visit = (value: unknown, path: PathSegment[], inStringMap: boolean): unknown => {
    if (value instanceof Date) return sourceText(path);
    if (value === null || typeof value !== 'object') return value;
    if (onPath.has(value)) return undefined;
    onPath.add(value);
    let out: unknown;
    if (Array.isArray(value)) {
      out = value.map((item, i) => visit(item, [...path, i], false));
    } else {
      const obj: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
        if (child === null || child === undefined) {
          if (inStringMap) obj[key] = '';
          continue;
        }
        const copied = visit(child, [...path, key], STRING_MAPS.has(key));
        if (copied !== undefined) obj[key] = copied;
      }
      out = obj;
    }
    onPath.delete(value);
    return out;
  };
  return visit(src.object, [], false);
}
