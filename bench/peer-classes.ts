// How many pair elements a node-local table would need if peers were grouped into classes: the
// measurement behind the next layout step (dataplane/policy/README.md, "Known limits"). No
// kernel, no layout change: an analysis of the layout policyc emits today.
//
// Today a subject's decision row holds one pair element per peer identity it decides something
// for: a pod added to a node with an identity the node had no row for brings 1,500-3,900 of
// them at 50k pods / 10k policies (each ~1 µs in the kernel, and the row's compute), against a
// 10 ms target for a one-pod change. Most of a big row comes from a few rules whose peers are
// big groups (an AdminNetworkPolicy's `namespaces: {env: prod}`, a NetworkPolicy peer selecting
// a tier across namespaces): the cell of every peer in such a group is the same.
//
// A peer class = the set of "class groups" an identity is in. Per subject and class, one class
// element with the class's most common cell (an absent cell counts as a value), plus one
// exception pair element per peer whose cell differs from its class's (an absent one included:
// it must override the class element). The kernel would look up the exact pair first, then
// (subject, class of the peer): one more hash lookup on a miss, and a map identity -> class.
// Reported for two choices of class groups:
//   big      groups used as peers with at least --threshold identities (default 64): the best
//            case, but the choice depends on the cluster and would have to be kept stable;
//   program  groups used as peers whose namespace match is a selector (not one namespace): a
//            choice the program alone fixes (no incremental recomputation when pods churn).
//   npx tsx bench/peer-classes.ts [--pods 50000] [--policies 10000] [--nodes 3] [--threshold 64]

import { parseArgs } from 'node:util';
import { computeMembership } from '../compiler/emit/membership.js';
import type { Program } from '../compiler/ir/types.js';
import { compileGenerated, generatedNode } from '../testkit/generated.js';
import { table } from './table.js';

interface Outcome {
  classes: number;
  elements: number;
  biggestRow: number;
}

/** Class elements + exceptions for every row of `rows` (row -> peer -> profile), classes by `classOf`. */
function withClasses(rows: ReadonlyMap<string, ReadonlyMap<number, number>>, identities: readonly number[], classOf: (id: number) => string): Outcome {
  const members = new Map<string, number[]>();
  for (const id of identities) {
    const c = classOf(id);
    const list = members.get(c);
    if (list) list.push(id);
    else members.set(c, [id]);
  }
  let elements = 0;
  let biggestRow = 0;
  for (const row of rows.values()) {
    let cost = 0;
    for (const ids of members.values()) {
      const counts = new Map<number, number>();
      for (const id of ids) {
        const v = row.get(id) ?? 0;
        counts.set(v, (counts.get(v) ?? 0) + 1);
      }
      let best = 0;
      let bestCount = -1;
      for (const [v, n] of counts) if (n > bestCount || (n === bestCount && v < best)) [best, bestCount] = [v, n];
      cost += (best !== 0 ? 1 : 0) + (ids.length - bestCount);
    }
    elements += cost;
    biggestRow = Math.max(biggestRow, cost);
  }
  return { classes: members.size, elements, biggestRow };
}

function peerGroups(program: Program): Set<string> {
  const out = new Set<string>();
  for (const r of program.rules) for (const p of r.peers) if (p.kind === 'pods') out.add(p.group);
  return out;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      pods: { type: 'string', default: '50000' },
      policies: { type: 'string', default: '' },
      nodes: { type: 'string', default: '3' },
      threshold: { type: 'string', default: '64' },
    },
  });
  const pods = Number(values.pods);
  const policies = Number(values.policies || Math.max(10, Math.round(pods / 5)));
  const threshold = Number(values.threshold);
  const { program, cluster } = compileGenerated(pods, policies, 1);
  const used = peerGroups(program);
  const selectorGroups = new Set(program.groups.filter((g) => used.has(g.id) && g.namespaces.kind === 'selector').map((g) => g.id));
  const out: Array<Array<string | number>> = [];
  for (let k = 0; k < Number(values.nodes); k++) {
    const node = generatedNode(cluster, k * 37);
    const localPods = new Set(cluster.pods.filter((p) => p.node === node).map((p) => `${p.namespace}/${p.name}`));
    const m = computeMembership(program, cluster, undefined, { localPods });
    const rows = new Map<string, Map<number, number>>();
    for (const e of m.layout.pairs) {
      const key = `${e.direction}/${e.subject}`;
      let row = rows.get(key);
      if (!row) rows.set(key, (row = new Map()));
      row.set(e.peer, e.profile);
    }
    const identities = m.identities.identities;
    const ids = identities.map((i) => i.id);
    const size = new Map<string, number>();
    for (const i of identities) for (const g of i.groups) if (used.has(g)) size.set(g, (size.get(g) ?? 0) + 1);
    const big = new Set([...size].filter(([, n]) => n >= threshold).map(([g]) => g));
    const byId = new Map(identities.map((i) => [i.id, i]));
    // world identities have no groups: each its own class (their cells follow cidr rules)
    const classBy = (chosen: ReadonlySet<string>) => (id: number) => {
      const i = byId.get(id)!;
      return i.kind === 'world' ? `world/${id}` : i.groups.filter((g) => chosen.has(g)).join(',');
    };
    let biggest = 0;
    for (const r of rows.values()) biggest = Math.max(biggest, r.size);
    const a = withClasses(rows, ids, classBy(big));
    const b = withClasses(rows, ids, classBy(selectorGroups));
    out.push([`${node.split('.')[0]} (${localPods.size} pods, ${rows.size} rows, ${ids.length} identities)`, m.layout.pairs.length, biggest, `${a.elements} (${a.classes} classes, ${big.size} groups)`, a.biggestRow, `${b.elements} (${b.classes} classes, ${selectorGroups.size} groups)`, b.biggestRow]);
  }
  console.log(`peer classes: ${pods} pods, ${policies} policies, node-local tables`);
  console.log(table(['node', 'pairs today', 'biggest row', `big groups (>= ${threshold} identities)`, 'biggest row', 'selector groups (program)', 'biggest row'], out));
}

main();
