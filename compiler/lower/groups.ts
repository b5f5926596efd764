// Interns groups: every (namespace match, pod selector) pair becomes one Group with an id
// derived from its canonical form, so identical selectors across policies share one group.

import { shortHash } from '../ir/hash.js';
import { selectorKey, type Selector } from '../ir/selector.js';
import type { Group, NamespaceMatch } from '../ir/types.js';

export class GroupTable {
  private readonly byKey = new Map<string, Group>();

  intern(namespaces: NamespaceMatch, pods: Selector): string {
    const nsKey = namespaces.kind === 'name' ? `name:${namespaces.name}` : `sel:${selectorKey(namespaces.selector)}`;
    const key = `${nsKey}\u0003${selectorKey(pods)}`;
    let group = this.byKey.get(key);
    if (!group) {
      group = { id: `g${shortHash(key)}`, namespaces, pods };
      this.byKey.set(key, group);
    }
    return group.id;
  }

  /** Sorted by id for deterministic output. */
  all(): Group[] {
    return [...this.byKey.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}
