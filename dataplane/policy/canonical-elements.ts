// A membership's kernel elements as flat u32 words, so that the reconcile worker
// (reconcile-worker.ts) can hand the main thread a fresh computation's elements at the cost of a
// transfer (ArrayBuffers move, nothing is copied) and the main thread can compare them with the
// membership it holds exactly, element by element: no hash, no false "equal".
//
// The lists and fields are exactly what membershipDiff (compiler/emit/membership.ts) compares, so
// `sameElements(m, encodeElements(fresh))` holds exactly when membershipDiff(m, fresh) is empty:
//   identity  pod address -> identity (the pod elements of identityElements)   family, first, last, identity
//   world     the merged world ranges (Membership.world)                          family, first, last, identity
//   pairs     (direction, subject, peer) -> profile (layout.pairs)               direction, subject, peer, profile
//   ports     (direction, profile, proto, port) -> verdict (layout.ports)        ..., action, cookie
//   isolated  per direction, the isolated subjects
// Both sides write each element with the same function (one `write*` per list), the encoder
// into the big array and the comparer into a scratch array it checks against it. Lists are
// compared in their order (computeMembership and updateMembership give them sorted): a list
// that is only ordered differently counts as different, which costs an in-thread reconcile, never
// a missed difference.
//
// Cost on the main thread (20k pods / 4k policies, cluster-wide: 1.1M pairs): see the README's
// reconcile paragraph; the comparison yields to the event loop every CHUNK elements.
import type { Membership } from '../../compiler/emit/membership.js';
import type { IdentityElement } from '../../compiler/emit/identities.js';
import type { PairElement, PortElement } from '../../compiler/emit/profiles.js';
import type { Direction } from '../../compiler/ir/types.js';
import { fnv1a32 } from '../../compiler/ir/hash.js';

export interface ElementWords {
  identity: Uint32Array;
  world: Uint32Array;
  pairs: Uint32Array;
  ports: Uint32Array;
  isolatedEgress: Uint32Array;
  isolatedIngress: Uint32Array;
}

export const LIST_NAMES = ['identity', 'world', 'pairs', 'ports', 'isolatedEgress', 'isolatedIngress'] as const;
export type ListName = (typeof LIST_NAMES)[number];

const MASK = 0xffffffffn;

/** An address (up to 128 bits) as 4 words, most significant first; IPv4 takes the fast path. */
function writeAddress(v: bigint, out: Uint32Array, at: number): void {
  if (v <= MASK) {
    out[at] = 0;
    out[at + 1] = 0;
    out[at + 2] = 0;
    out[at + 3] = Number(v);
    return;
  }
  out[at] = Number((v >> 96n) & MASK);
  out[at + 1] = Number((v >> 64n) & MASK);
  out[at + 2] = Number((v >> 32n) & MASK);
  out[at + 3] = Number(v & MASK);
}

function writeIdentity(e: IdentityElement, out: Uint32Array, at: number): void {
  out[at] = e.family;
  writeAddress(e.first, out, at + 1);
  writeAddress(e.last, out, at + 5);
  out[at + 9] = e.identity;
}

const DIRECTION_WORD: Record<Direction, number> = { egress: 0, ingress: 1 };

function directionWord(d: Direction): number {
  return DIRECTION_WORD[d] ?? fnv1a32(String(d));
}

function writePair(e: PairElement, out: Uint32Array, at: number): void {
  out[at] = directionWord(e.direction);
  out[at + 1] = e.subject;
  out[at + 2] = e.peer;
  out[at + 3] = e.profile;
}

function writePort(e: PortElement, out: Uint32Array, at: number): void {
  out[at] = directionWord(e.direction);
  out[at + 1] = e.profile;
  out[at + 2] = e.protoFrom;
  out[at + 3] = e.protoTo;
  out[at + 4] = e.portFrom;
  out[at + 5] = e.portTo;
  // the verdict as membershipDiff compares it (sameVerdict: action and cookie)
  out[at + 6] = fnv1a32(e.rule.action);
  out[at + 7] = e.rule.cookie;
}

function writeNumber(n: number, out: Uint32Array, at: number): void {
  out[at] = n;
}

interface ListCodec<T> {
  width: number;
  list(m: Membership): readonly T[];
  write(e: T, out: Uint32Array, at: number): void;
}

const isPod = (e: IdentityElement) => e.pod !== undefined;

/** The pod elements of a membership's identity list, memoized (a filter over every address). */
const podElements = new WeakMap<readonly IdentityElement[], readonly IdentityElement[]>();

function podElementsOf(m: Membership): readonly IdentityElement[] {
  let list = podElements.get(m.identityElements);
  if (!list) podElements.set(m.identityElements, (list = m.identityElements.filter(isPod)));
  return list;
}

const CODECS: { [K in ListName]: ListCodec<any> } = {
  identity: { width: 10, list: podElementsOf, write: writeIdentity } satisfies ListCodec<IdentityElement>,
  world: { width: 10, list: (m) => m.world, write: writeIdentity } satisfies ListCodec<IdentityElement>,
  pairs: { width: 4, list: (m) => m.layout.pairs, write: writePair } satisfies ListCodec<PairElement>,
  ports: { width: 8, list: (m) => m.layout.ports, write: writePort } satisfies ListCodec<PortElement>,
  isolatedEgress: { width: 1, list: (m) => m.isolated.egress, write: writeNumber } satisfies ListCodec<number>,
  isolatedIngress: { width: 1, list: (m) => m.isolated.ingress, write: writeNumber } satisfies ListCodec<number>,
};

/** Every kernel element of `m` as words (the worker's side). */
export function encodeElements(m: Membership): ElementWords {
  const out = {} as ElementWords;
  for (const name of LIST_NAMES) {
    const codec = CODECS[name];
    const list = codec.list(m);
    const words = new Uint32Array(list.length * codec.width);
    for (let i = 0; i < list.length; i++) codec.write(list[i], words, i * codec.width);
    out[name] = words;
  }
  return out;
}

/** The buffers of an encoding, to transfer them with postMessage. */
export function transferList(w: ElementWords): ArrayBuffer[] {
  return LIST_NAMES.map((n) => w[n].buffer as ArrayBuffer);
}

/** Where two encodings part: the list, and the first differing element (or the element counts). */
export interface ElementsDiffer {
  list: ListName;
  detail: string;
}

/**
 * How long the comparison runs before it yields to the event loop. Time, not a count: the same
 * 76k elements (20k pods node-local) take ~14 ms the first two times (not yet optimized: a
 * reconcile runs every few seconds at most) and ~2 ms after.
 */
export const SLICE_MS = 2;
/** elements between two looks at the clock */
const CLOCK_EVERY = 1024;

/** Main-thread time of a comparison: in total, and its longest run without a yield. */
export interface SliceStats {
  busyMs: number;
  maxSliceMs: number;
}

/**
 * Whether `m`'s kernel elements are exactly `words` (the main thread's side). Yields to the event
 * loop (setImmediate) every `sliceMs`, so a 1.1M-pair comparison (~45 ms at 20k pods / 4k
 * policies cluster-wide) does not hold it; `m` must not change meanwhile (memberships are never
 * changed in place: updates derive new ones). Undefined = the same. `stats` gets the
 * main-thread time it took.
 */
export async function compareElements(m: Membership, words: ElementWords, sliceMs = SLICE_MS, stats: SliceStats = { busyMs: 0, maxSliceMs: 0 }): Promise<ElementsDiffer | undefined> {
  let sliceStart = performance.now();
  const endSlice = () => {
    const ms = performance.now() - sliceStart;
    stats.busyMs += ms;
    stats.maxSliceMs = Math.max(stats.maxSliceMs, ms);
  };
  let budget = CLOCK_EVERY;
  try {
    for (const name of LIST_NAMES) {
      const codec = CODECS[name];
      const list = codec.list(m);
      const theirs = words[name];
      const w = codec.width;
      if (theirs.length !== list.length * w) return { list: name, detail: `${list.length} elements here, ${theirs.length / w} in the fresh computation` };
      const mine = new Uint32Array(w);
      for (let i = 0; i < list.length; i++) {
        codec.write(list[i], mine, 0);
        const at = i * w;
        for (let k = 0; k < w; k++) {
          if (mine[k] !== theirs[at + k]) return { list: name, detail: `element ${i}: [${[...mine].join(',')}] here, [${[...theirs.subarray(at, at + w)].join(',')}] in the fresh computation` };
        }
        if (--budget > 0) continue;
        budget = CLOCK_EVERY;
        if (performance.now() - sliceStart >= sliceMs) {
          endSlice();
          await new Promise((r) => setImmediate(r));
          sliceStart = performance.now();
        }
      }
    }
    return undefined;
  } finally {
    endSlice();
  }
}
