import { createHash } from 'node:crypto';

/** Short stable hash for ids (groups, identities). */
export function shortHash(text: string, hexChars = 10): string {
  return createHash('sha256').update(text).digest('hex').slice(0, hexChars);
}

/** 32-bit FNV-1a, for rule cookies stored in kernel maps. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
