// The subset of libnftables JSON (nft -j, json_schema_version 1, nft 1.0.6) that policyc emits.
// Names follow libnftables-json(5).

export type NftFamily = 'inet';

export interface NftPayload {
  readonly payload: { readonly protocol: 'ip' | 'ip6' | 'th' | 'icmpv6' | 'tcp' | 'udp'; readonly field: string };
}
export interface NftMeta {
  readonly meta: { readonly key: 'mark' | 'priority' | 'l4proto' | 'nfproto' };
}
export interface NftCt {
  readonly ct: { readonly key: 'state' | 'mark' };
}
/** `KEY map @NAME` */
export interface NftMapLookup {
  readonly map: { readonly key: NftExpression; readonly data: string };
}
export interface NftConcat {
  readonly concat: readonly NftExpression[];
}
export interface NftRange {
  readonly range: readonly [NftScalar, NftScalar];
}
export interface NftPrefix {
  readonly prefix: { readonly addr: string; readonly len: number };
}
/** `LEFT & RIGHT` (a bit mask, e.g. of tcp flags) */
export interface NftBitAnd {
  readonly '&': readonly [NftExpression, NftExpression];
}
export interface NftSetLiteral {
  readonly set: readonly NftScalar[];
}
export type NftScalar = string | number;
export type NftExpression = NftScalar | NftPayload | NftMeta | NftCt | NftMapLookup | NftConcat | NftRange | NftPrefix | NftSetLiteral | NftBitAnd | readonly NftScalar[];

export interface NftVerdictJump {
  readonly jump: { readonly target: string };
}
export interface NftVerdictGoto {
  readonly goto: { readonly target: string };
}

/** An anonymous verdict map: `{ set: [[key, verdict], ...] }`. */
export interface NftVerdictSet {
  readonly set: ReadonlyArray<readonly [NftScalar, { readonly accept: null } | { readonly drop: null } | NftVerdictJump | NftVerdictGoto]>;
}

export type NftStatement =
  | { readonly match: { readonly op: '==' | '!=' | 'in'; readonly left: NftExpression; readonly right: NftExpression } }
  | { readonly mangle: { readonly key: NftMeta | NftCt; readonly value: NftExpression } }
  | { readonly vmap: { readonly key: NftExpression; readonly data: string | NftVerdictSet } }
  | { readonly counter: { readonly packets: number; readonly bytes: number } | null }
  | { readonly limit: { readonly rate: number; readonly per: 'second' | 'minute'; readonly burst: number } }
  | { readonly log: { readonly prefix: string; readonly group: number } }
  | { readonly accept: null }
  | { readonly drop: null }
  | { readonly return: null }
  | NftVerdictJump
  | NftVerdictGoto;

export interface NftTable {
  readonly family: NftFamily;
  readonly name: string;
}

export interface NftChain {
  readonly family: NftFamily;
  readonly table: string;
  readonly name: string;
  readonly type?: 'filter';
  readonly hook?: 'forward';
  readonly prio?: number;
  readonly policy?: 'accept' | 'drop';
}

/** Data types used by policyc maps and sets. */
export type NftType = 'ipv4_addr' | 'ipv6_addr' | 'mark' | 'classid' | 'inet_proto' | 'inet_service';

export interface NftSet {
  readonly family: NftFamily;
  readonly table: string;
  readonly name: string;
  readonly type: NftType | readonly NftType[];
  readonly flags?: readonly 'interval'[];
  readonly comment?: string;
}

export interface NftMap extends NftSet {
  readonly map: NftType | 'verdict';
}

export interface NftRule {
  readonly family: NftFamily;
  readonly table: string;
  readonly chain: string;
  readonly comment?: string;
  readonly expr: readonly NftStatement[];
}

/** A set element, or a map element `[key, value]`. */
export type NftElementKey = NftScalar | NftRange | NftPrefix | NftConcat;
export type NftElement = NftElementKey | readonly [NftElementKey, NftScalar | NftVerdictGoto | NftVerdictJump];

export interface NftElements {
  readonly family: NftFamily;
  readonly table: string;
  readonly name: string;
  readonly elem: readonly NftElement[];
}

export type NftObject =
  | { readonly table: NftTable }
  | { readonly chain: NftChain }
  | { readonly set: NftSet }
  | { readonly map: NftMap }
  | { readonly rule: NftRule }
  | { readonly element: NftElements };

export type NftCommand =
  | { readonly metainfo: { readonly json_schema_version: 1 } }
  | { readonly add: NftObject }
  | { readonly delete: NftObject };

/** What `nft -j -f` reads: one batch, applied all or nothing. */
export interface NftDocument {
  readonly nftables: readonly NftCommand[];
}

/** The opening of a document that replaces a whole `inet` table (see replaceTable). */
export type NftReplaceTable = readonly [
  { readonly metainfo: { readonly json_schema_version: 1 } },
  { readonly add: { readonly table: { readonly family: 'inet'; readonly name: string } } },
  { readonly delete: { readonly table: { readonly family: 'inet'; readonly name: string } } },
  { readonly add: { readonly table: { readonly family: 'inet'; readonly name: string } } },
];

/**
 * The commands every whole-table document starts with: add the table (so that the delete
 * never fails on a fresh netns), delete it with everything in it, add it again empty. In one
 * batch, so the old table stays until the new one is complete (nft applies a document all or
 * nothing).
 */
export function replaceTable(name: string): NftReplaceTable {
  const table = { family: 'inet', name } as const;
  return [{ metainfo: { json_schema_version: 1 } }, { add: { table } }, { delete: { table } }, { add: { table } }];
}
