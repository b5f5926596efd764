// A compiled artifact as the engine uses it: verified (format version, content hash), parsed
// (program.json, nftables.json, rules.json) and checked that its nftables batch only builds one
// `inet` table (no `flush ruleset`, no other table or family): anything else is refused before
// the kernel sees it. Pure: no IO.
import { verifyArtifact, type Manifest } from '../../compiler/emit/artifact.js';
import type { NftCommand } from '../../compiler/emit/nftables/schema.js';
import type { Program } from '../../compiler/ir/types.js';

export interface RuleInfo {
  id: string;
  cookie: number;
  policy: string;
  action: string;
  direction: string;
}

export interface LoadedArtifact {
  hash: string;
  manifest: Manifest;
  /** name -> text, manifest.json included (what is persisted as the last good) */
  files: Record<string, string>;
  program: Program;
  table: string;
  /** Table, chains, maps, sets, rules: nftables.json minus metainfo, `delete table` and elements. */
  skeleton: NftCommand[];
  /** `add element` commands of a compile with a snapshot (used until a cluster state arrives). */
  snapshotElements: NftCommand[];
  withSnapshot: boolean;
  /** cookie -> rule (rules.json; else program.rules) */
  rules: Map<number, RuleInfo>;
}

export type ParseResult = { ok: true; artifact: LoadedArtifact } | { ok: false; reason: string };

function parseJson(name: string, text: string | undefined): { ok: true; value: any } | { ok: false; reason: string } {
  if (text === undefined) return { ok: false, reason: `${name} is missing` };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, reason: `${name} is not JSON: ${(err as Error).message}` };
  }
}

const OBJECTS = new Set(['table', 'chain', 'rule', 'map', 'set', 'element']);

export function parseArtifact(input: ReadonlyMap<string, string> | Record<string, string>): ParseResult {
  const files = input instanceof Map ? (input as ReadonlyMap<string, string>) : new Map(Object.entries(input as Record<string, string>));
  for (const [name, text] of files) if (typeof text !== 'string') return { ok: false, reason: `${name} is not text` };
  const v = verifyArtifact(files);
  if (!v.ok) return v;
  const manifest = v.manifest;
  const program = parseJson('program.json', files.get('program.json'));
  if (!program.ok) return program;
  const p = program.value as Program;
  if (p?.formatVersion !== 1 || !Array.isArray(p.groups) || !Array.isArray(p.rules) || !Array.isArray(p.policies)) {
    return { ok: false, reason: 'program.json is not a format-1 Program (groups, policies, rules)' };
  }
  const nft = parseJson('nftables.json', files.get('nftables.json'));
  if (!nft.ok) return nft;
  const cmds = nft.value?.nftables;
  if (!Array.isArray(cmds)) return { ok: false, reason: 'nftables.json has no nftables array' };
  let table: string | undefined;
  const skeleton: NftCommand[] = [];
  const snapshotElements: NftCommand[] = [];
  for (const [i, cmd] of cmds.entries()) {
    if (cmd === null || typeof cmd !== 'object' || Array.isArray(cmd)) return { ok: false, reason: `nftables.json command ${i} is not an object` };
    const verbs = Object.keys(cmd);
    if (verbs.length !== 1) return { ok: false, reason: `nftables.json command ${i} has ${verbs.length} keys` };
    const verb = verbs[0];
    if (verb === 'metainfo') continue;
    const body = cmd[verb];
    const kinds = body && typeof body === 'object' ? Object.keys(body) : [];
    const kind = kinds[0];
    if ((verb !== 'add' && verb !== 'delete') || kinds.length !== 1 || !OBJECTS.has(kind) || (verb === 'delete' && kind !== 'table')) {
      return { ok: false, reason: `nftables.json command ${i} (${verb} ${kind ?? ''}) is not allowed: only add table/chain/rule/map/set/element and delete table` };
    }
    const obj = body[kind];
    const name = kind === 'table' ? obj?.name : obj?.table;
    if (obj?.family !== 'inet' || typeof name !== 'string') return { ok: false, reason: `nftables.json command ${i} is not for an inet table` };
    if (table === undefined) table = name;
    else if (table !== name) return { ok: false, reason: `nftables.json names two tables (${table}, ${name})` };
    if (verb === 'delete') continue;
    if ((kind === 'map' || kind === 'set') && obj.elem !== undefined) return { ok: false, reason: `nftables.json ${kind} ${obj.name} declares elements inline (use add element)` };
    if (kind === 'element') snapshotElements.push(cmd as NftCommand);
    else skeleton.push(cmd as NftCommand);
  }
  if (!table) return { ok: false, reason: 'nftables.json creates no table' };
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(table)) return { ok: false, reason: `table name ${JSON.stringify(table)} is not allowed` };
  const rules = new Map<number, RuleInfo>();
  const rulesJson = files.has('rules.json') ? parseJson('rules.json', files.get('rules.json')) : undefined;
  if (rulesJson && !rulesJson.ok) return rulesJson;
  const list = rulesJson?.ok && Array.isArray(rulesJson.value) ? rulesJson.value : p.rules.map((r) => ({ id: r.id, cookie: r.cookie, policy: `${r.policy.kind} ${r.policy.namespace ? `${r.policy.namespace}/` : ''}${r.policy.name}`, action: r.action, direction: r.direction }));
  for (const r of list) if (typeof r?.cookie === 'number') rules.set(r.cookie >>> 0, { id: String(r.id), cookie: r.cookie >>> 0, policy: String(r.policy), action: String(r.action), direction: String(r.direction) });
  return {
    ok: true,
    artifact: {
      hash: manifest.contentHash,
      manifest,
      files: Object.fromEntries(files),
      program: p,
      table,
      skeleton,
      snapshotElements,
      withSnapshot: manifest.withSnapshot === true,
      rules,
    },
  };
}
