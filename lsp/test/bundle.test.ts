// The server bundled into the VS Code extension (vscode-extension/dist/server.js, built by
// vscode-extension/build.sh) answers like the one from source. Skipped when not built; under
// CI=true (which builds it first, .ci/run) a missing bundle fails.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { guardSuite } from '../../testkit/requirements.js';
import type { ExplainFlowResult } from '../protocol.js';
import { REPO, TestClient } from './client.js';
import { writeWorkspace } from './fixtures.js';

const bundle = resolve(REPO, 'vscode-extension/dist/server.js');

const built = guardSuite('bundled server', existsSync(bundle) ? { ok: true } : { ok: false, reason: `${bundle} is not built (bash vscode-extension/build.sh)` });

describe.skipIf(built.skip)(built.title, () => {
  it('diagnoses and explains over stdio', async () => {
    const fx = writeWorkspace(['policies/a-or-split.yaml']);
    const client = await TestClient.start({ root: fx.root, command: [process.execPath, bundle, '--stdio'] });
    await client.nextStatus(0);
    expect(client.latest(client.uri('policies/a-or-split.yaml'))!.diagnostics.map((d) => d.code)).toEqual(['PC2001']);
    const r = await client.request<ExplainFlowResult>('policyc/explainFlow', { flow: 'client/cache-0 -> a/api-0 : 8080' });
    expect(r.allowed).toBe(true);
    expect(client.errors).toEqual([]);
    expect(await client.stop()).toBe(0);
  }, 30_000);
});
