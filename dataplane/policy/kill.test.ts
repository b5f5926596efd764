// kill -9 safety of the whole daemon: a real child process (dataplane/daemon/main.ts, the
// spawnable entry of `policyc daemon`) gets artifacts A and B pushed alternately over its socket
// and is killed with SIGKILL at random moments, 30 times, restarting each time. After every kill
// the kernel's table is exactly A's or B's (as loading A or B alone gives), never empty or
// partial; after every restart it is the persisted last good. One-pod changes are pushed at the
// same time (a label no selector reads, so the table stays A's or B's), so kills also land while
// the cluster state is written (by the reconcile worker thread, cluster-persist.ts): after every
// kill cluster-state.json is a whole file of the format the engine reads. Only inside a
// throwaway netns.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeMembership } from '../../compiler/emit/membership.js';
import { addNetns, deleteNetns } from '../nft/loader.js';
import { fullReplaceDocument } from './apply.js';
import { parseArtifact } from './artifact.js';
import { ClusterState } from './cluster-state.js';
import { DaemonConnection, daemonRequest } from './client.js';
import { clusterState, POLICIES_A, POLICIES_B, relabel } from './fixtures.js';
import { NftRunner, netnsTarget } from './nft-exec.js';
import { compileArtifact, kernelTable, netnsName, policyKernel } from './testing.js';
import { guardSuite } from '../../testkit/requirements.js';

const kernel = guardSuite('policy daemon under kill -9', await policyKernel());

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const KILLS = 30;

describe.skipIf(kernel.skip)(kernel.title, () => {
  let dir: string;
  let node: string;
  let scratch: string;
  const children = new Set<ChildProcess>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pcpol-kill-'));
    node = netnsName('pcpol');
    scratch = netnsName('pcpol');
    await addNetns(node);
    await addNetns(scratch);
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
    await deleteNetns(node);
    await deleteNetns(scratch);
    await rm(dir, { recursive: true, force: true });
  });

  function startDaemon(): Promise<{ child: ChildProcess; exited: Promise<void> }> {
    const args = ['--import', 'tsx', 'dataplane/daemon/main.ts', '--state-dir', join(dir, 'state'), '--socket', join(dir, 'd.sock'), '--policy', 'on', '--host-netns', node, '--wiring', 'ip'];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`daemon did not get ready: ${err}`)), 30_000);
      child.stdout!.on('data', (d) => {
        if (String(d).includes('ready')) {
          clearTimeout(timer);
          resolve({ child, exited });
        }
      });
      child.once('exit', (code) => reject(new Error(`daemon exited (${code}): ${err}`)));
    });
  }

  it(`the kernel holds A or B after each of ${KILLS} kills, and the persisted last good after each restart`, async () => {
    const A = compileArtifact(POLICIES_A);
    const B = compileArtifact(POLICIES_B);
    const hashOf = (f: Record<string, string>) => JSON.parse(f['manifest.json']).contentHash as string;
    // what loading A or B alone (with the same cluster) gives
    const state = new ClusterState();
    state.apply(clusterState());
    const runner = new NftRunner(netnsTarget(scratch), join(dir, 'scratch'));
    const reference = new Map<string, string>();
    for (const files of [A, B]) {
      const art = (parseArtifact(files) as { ok: true; artifact: any }).artifact;
      const r = await runner.apply(JSON.stringify(fullReplaceDocument(art, computeMembership(art.program, state.cluster()))));
      expect(r.ok, r.stderr).toBe(true);
      reference.set(hashOf(files), await kernelTable(scratch));
    }
    expect(reference.get(hashOf(A))).not.toBe(reference.get(hashOf(B)));
    const which = (listing: string) => [...reference.entries()].find(([, l]) => l === listing)?.[0];

    let d = await startDaemon();
    const sock = join(dir, 'd.sock');
    expect(await daemonRequest(sock, { type: 'cluster-state', ...clusterState() })).toMatchObject({ ok: true, kind: 'none' });
    expect(await daemonRequest(sock, { type: 'artifacts', files: A })).toMatchObject({ ok: true, kind: 'full' });

    const seen = { A: 0, B: 0, resyncReloads: 0 };
    for (let i = 0; i < KILLS; i++) {
      // push A, B, A, ... back to back until the kill
      const conn = await DaemonConnection.open(sock);
      let stop = false;
      const pusher = (async () => {
        for (let n = 0; !stop; n++) {
          try {
            await conn.request({ type: 'artifacts', files: n % 2 === 0 ? B : A });
          } catch {
            return;
          }
        }
      })();
      // and one-pod changes that the engine persists (debounced) while artifacts load
      const conn2 = await DaemonConnection.open(sock);
      const relabeler = (async () => {
        for (let n = 0; !stop; n++) {
          try {
            await conn2.request({ type: 'cluster-state', ...relabel('other', { bump: `${i}-${n}` }) });
          } catch {
            return;
          }
        }
      })();
      await new Promise((r) => setTimeout(r, Math.random() * 250));
      process.kill(d.child.pid!, 'SIGKILL');
      await d.exited;
      stop = true;
      conn.close();
      conn2.close();
      await pusher;
      await relabeler;
      const persistedState = JSON.parse(await readFile(join(dir, 'state', 'policy', 'cluster-state.json'), 'utf8'));
      expect(persistedState, `kill ${i}: cluster-state.json`).toMatchObject({ formatVersion: 1, state: { pods: expect.any(Array) } });
      expect(persistedState.state.pods.map((p: { name: string }) => p.name).sort(), `kill ${i}`).toEqual(['api1', 'api2', 'db', 'other', 'web1', 'web2']);

      const afterKill = await kernelTable(node);
      const held = which(afterKill);
      expect(held, `kill ${i}: the kernel holds neither A nor B:\n${afterKill.slice(0, 500)}`).toBeDefined();
      seen[held === hashOf(A) ? 'A' : 'B']++;

      d = await startDaemon();
      const persisted = JSON.parse(await readFile(join(dir, 'state', 'policy', 'last-good.json'), 'utf8')).artifactHash as string;
      const afterRestart = await kernelTable(node);
      expect(which(afterRestart), `restart ${i}`).toBe(persisted);
      if (persisted !== held) seen.resyncReloads++;
      const status = await daemonRequest(sock, { type: 'status' });
      expect(status).toMatchObject({ ready: true, artifact: { hash: persisted } });
    }
    process.kill(d.child.pid!, 'SIGKILL');
    await d.exited;
    // both artifacts were caught by kills (the loop really alternated)
    expect(seen.A + seen.B).toBe(KILLS);
    expect(seen.A).toBeGreaterThan(0);
    expect(seen.B).toBeGreaterThan(0);
    console.log(`kill -9 loop: kernel held A ${seen.A}x, B ${seen.B}x after kills; restart reloaded the last good ${seen.resyncReloads}x`);
  }, 300_000);
});
