// Building the two kinds of batch the engine sends, each one `nft -j -f` transaction:
//   full replace: add table + delete table + skeleton + elements (also deleting a previous table
//                 of another name), so the kernel holds the old table or the new one, never
//                 an empty or half-built one;
//   element diff: deletes then adds of the elements that changed; the rules are not touched.
import type { Membership, MembershipDiff } from '../../compiler/emit/membership.js';
import { MAP, membershipCommands, renderElementDiff } from '../../compiler/emit/nftables/ruleset.js';
import type { NftCommand, NftDocument } from '../../compiler/emit/nftables/schema.js';
import type { LoadedArtifact } from './artifact.js';

const META: NftCommand = { metainfo: { json_schema_version: 1 } };

function tableCmd(verb: 'add' | 'delete', name: string): NftCommand {
  return { [verb]: { table: { family: 'inet', name } } } as NftCommand;
}

/** Elements for a full load: the membership's, or the artifact's snapshot when there is none. */
export function elementCommands(artifact: LoadedArtifact, membership: Membership | undefined): NftCommand[] {
  return membership ? membershipCommands(membership, { table: artifact.table }) : artifact.snapshotElements;
}

export function fullReplaceDocument(artifact: LoadedArtifact, membership: Membership | undefined, previousTable?: string): NftDocument {
  const cmds: NftCommand[] = [META, tableCmd('add', artifact.table), tableCmd('delete', artifact.table)];
  if (previousTable && previousTable !== artifact.table) cmds.push(tableCmd('add', previousTable), tableCmd('delete', previousTable));
  cmds.push(...artifact.skeleton, ...elementCommands(artifact, membership));
  return { nftables: cmds };
}

/**
 * nft 1.0.6 often cannot delete an element of a concatenated interval map whose key parts are
 * single values ("No such file or directory" although the element is listed), while the same
 * element written with every part as a range [v, v] deletes fine; adds work either way. So
 * deletes of concatenations are rewritten with explicit ranges. Not always: measured on a
 * 5k-pod table, 306 of 309 decision elements deleted only in the range form and 3 only in the
 * form they were added in (elements with a port range, or a neighbour deleted just before), so
 * the engine retries a refused diff once as rendered and then falls back to a full replace.
 * The rule, seen with `nft --debug=netlink`: a delete command whose elements all have single
 * values is sent without NFTA_SET_ELEM_KEY_END and with the classid/mark field in host order
 * (an add, or a delete with a range among its elements, sends the key end and network order),
 * so the kernel finds nothing. Only the libnftables path needs this: with the policyc-nft helper
 * these batches go over nfnetlink (element-batch.ts), which sends key and key end as the add does.
 */
const INTERVAL_CONCAT_MAPS = new Set([MAP.ports('egress'), MAP.ports('ingress')]);

export function fixConcatDeletes(doc: NftDocument): NftDocument {
  const asRange = (part: unknown) => (typeof part === 'number' || typeof part === 'string' ? { range: [part, part] } : part);
  return {
    nftables: doc.nftables.map((c) => {
      const el = (c as Record<string, any>).delete?.element;
      // only the interval maps: the pair maps have exact keys, where a range is refused
      if (!el || !INTERVAL_CONCAT_MAPS.has(el.name)) return c;
      const elem = (el.elem as unknown[]).map((e) => {
        if (!Array.isArray(e)) return e;
        const [key, value] = e as [Record<string, any>, unknown];
        return key && typeof key === 'object' && Array.isArray(key.concat) ? [{ concat: key.concat.map(asRange) }, value] : e;
      });
      return { delete: { element: { ...el, elem } } } as NftCommand;
    }),
  };
}

export function diffDocument(diff: MembershipDiff, table: string): NftDocument {
  return fixConcatDeletes(renderElementDiff(diff, { table }));
}

/** Element count of a batch (adds + deletes). */
export function batchElements(doc: NftDocument): number {
  let n = 0;
  for (const c of doc.nftables as unknown as Array<Record<string, any>>) {
    const el = c.add?.element ?? c.delete?.element;
    if (el) n += el.elem.length;
  }
  return n;
}
