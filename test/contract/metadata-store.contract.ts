/** The MetadataStore port's contract, run against every Postgres the node supports. */
import { describe, expect, it } from 'vitest';
import type { NewEntry } from '../../app/domain/entry.js';
import { newBlobKey } from '../../app/domain/blob-key.js';
import type { CommitOutcome, Fence, MetadataChange, MetadataStore, WriteCommit } from '../../app/ports/metadata-store.js';
import type { PeerNonceStore } from '../../app/ports/peer-nonces.js';

const file = (path: string, size = 1): NewEntry => ({ path, type: 'file', size, owner: 'u1', backendType: 'localfs', instanceId: 'n1', originInstanceId: 'n1' });
/** A write's fence: its lock's token, and the lock home's epoch (a fresh store is at epoch 1). */
const f = (token: number, epoch: number | null = 1): Fence => ({ token, epoch });
const dir = (path: string): NewEntry => ({ path, type: 'directory', size: 0, owner: 'u1', backendType: 'localfs', instanceId: 'n1', originInstanceId: 'n1' });

/** A write commit of `path` by `owner` (bytes already stored under a fresh blob key). */
const commit = (path: string, over: Partial<WriteCommit> = {}): WriteCommit => ({
  path,
  mode: 'replace',
  owner: 'u1',
  superUser: false,
  size: 5,
  blobKey: newBlobKey(),
  backendType: 'localfs',
  instanceId: 'n1',
  originInstanceId: 'n1',
  directoryBackendType: 'localfs',
  directoryInstanceId: 'n1',
  epoch: 1,
  ...over,
});

function committed(outcome: CommitOutcome): Extract<CommitOutcome, { kind: 'committed' }> {
  if (outcome.kind !== 'committed') throw new Error(`expected a commit, got ${outcome.kind}`);
  return outcome;
}

/** `makeStore(true)` opens another store on the database of the previous call; otherwise a fresh one. */
export function describeMetadataStoreContract(name: string, makeStore: (sameDatabaseAsLast?: boolean) => Promise<MetadataStore & Required<PeerNonceStore>>): void {
  describe(`MetadataStore contract: ${name}`, () => {
    it('seeds the root, creates entries once, and reads them back', async () => {
      const store = await makeStore();
      expect(await store.getEntry('/')).toMatchObject({ type: 'directory', owner: 'root', instanceId: null, mode: '0755' });
      const created = await store.createEntry(file('/c/a.txt', 5), f(1));
      expect(created).toMatchObject({ path: '/c/a.txt', name: 'a.txt', type: 'file', size: 5, mode: '0644', version: 1 });
      await expect(store.createEntry(file('/c/a.txt'), f(2))).rejects.toMatchObject({ code: 'FILE_ALREADY_EXISTS' });
      expect(await store.getEntry('/c/missing')).toBeNull();
      await store.close();
    });

    it('names the holders of local-disk files within a subtree, and only within it', async () => {
      const store = await makeStore();
      await store.createEntry(file('/h/a.txt'), f(1));
      await store.createEntry({ ...file('/h/deep/b.txt'), instanceId: 'n2' }, f(1));
      await store.createEntry({ ...file('/h-sibling/c.txt'), instanceId: 'n3' }, f(1));
      await store.createEntry({ ...file('/h/s3.txt'), backendType: 's3', instanceId: null }, f(1));
      expect(await store.fileHoldersWithin('/h')).toEqual(['n1', 'n2']);
      expect(await store.fileHoldersWithin('/h/deep')).toEqual(['n2']);
      expect(await store.fileHoldersWithin('/h/a.txt')).toEqual(['n1']);
      expect(await store.fileHoldersWithin('/nothing')).toEqual([]);
      await store.close();
    });

    it('lists children files first then directories in byte order, without grandchildren', async () => {
      const store = await makeStore();
      await store.ensureDirectories([dir('/l'), dir('/l/Zdir'), dir('/l/adir')], f(0));
      for (const name of ['b.txt', 'B.txt', '%_\\.txt', 'a.txt']) await store.createEntry(file(`/l/${name}`), f(1));
      await store.createEntry(file('/l/adir/deep.txt'), f(1));
      expect((await store.listChildren('/l')).map((e) => e.name)).toEqual(['%_\\.txt', 'B.txt', 'a.txt', 'b.txt', 'Zdir', 'adir']);
      expect(await store.hasChildren('/l/adir')).toBe(true);
      expect(await store.hasChildren('/l/Zdir')).toBe(false);
      await store.close();
    });

    it('ensureDirectories is idempotent and reports a file standing in the way', async () => {
      const store = await makeStore();
      await store.createEntry(file('/e/blocker'), f(1));
      const result = await store.ensureDirectories([dir('/e'), dir('/e/blocker')], f(0));
      expect(result.map((e) => [e.path, e.type])).toEqual([
        ['/e', 'directory'],
        ['/e/blocker', 'file'],
      ]);
      expect((await store.ensureDirectories([dir('/e')], f(0))).length).toBe(1);
      await store.close();
    });

    it('updates content with a version bump and refuses stale fences (LOCK_LOST)', async () => {
      const store = await makeStore();
      await store.createEntry(file('/u.txt', 1), f(10));
      const updated = await store.updateContent('/u.txt', 42, f(11));
      expect(updated).toMatchObject({ size: 42, version: 2 });
      await expect(store.updateContent('/u.txt', 1, f(5))).rejects.toMatchObject({ code: 'LOCK_LOST' });
      await expect(store.updateContent('/nope.txt', 1, f(99))).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
      await expect(store.deleteEntry('/u.txt', f(3))).rejects.toMatchObject({ code: 'LOCK_LOST' });
      expect(await store.deleteEntry('/u.txt', f(12))).toMatchObject({ path: '/u.txt', size: 42 });
      expect(await store.deleteEntry('/u.txt', f(12))).toBeNull();
      await store.close();
    });

    it('refuses every lock-protected write from another fencing epoch (FENCED), and changes nothing', async () => {
      const store = await makeStore();
      await store.ensureDirectories([dir('/ep')], f(1));
      await store.createEntry(file('/ep/a.txt', 3), f(1));
      const stale = f(50, 2);
      expect(await store.entryForWrite('/ep/a.txt', f(50))).toMatchObject({ path: '/ep/a.txt', size: 3 });
      expect(await store.entryForWrite('/ep/none.txt', f(50))).toBeNull();
      await expect(store.entryForWrite('/ep/a.txt', stale)).rejects.toMatchObject({ code: 'FENCED' });
      await expect(store.entryForWrite('/ep/none.txt', stale)).rejects.toMatchObject({ code: 'FENCED' });
      await expect(store.createEntry(file('/ep/b.txt'), stale)).rejects.toMatchObject({ code: 'FENCED', status: 503 });
      await expect(store.ensureDirectories([dir('/ep/new')], stale)).rejects.toMatchObject({ code: 'FENCED' });
      await expect(store.updateContent('/ep/a.txt', 9, stale)).rejects.toMatchObject({ code: 'FENCED' });
      await expect(store.deleteEntry('/ep/a.txt', stale)).rejects.toMatchObject({ code: 'FENCED' });
      await expect(store.moveEntry('/ep/a.txt', '/ep/c.txt', { overwrite: false, fence: stale })).rejects.toMatchObject({ code: 'FENCED' });
      expect(await store.getEntry('/ep/b.txt')).toBeNull();
      expect(await store.getEntry('/ep/new')).toBeNull();
      expect(await store.getEntry('/ep/c.txt')).toBeNull();
      expect(await store.getEntry('/ep/a.txt')).toMatchObject({ size: 3, version: 1 });
      // No epoch (in-process locks): only a fenced database refuses.
      expect(await store.updateContent('/ep/a.txt', 4, f(60, null))).toMatchObject({ size: 4, version: 2 });
      await store.close();
    });

    it('commits a write in one call: creates with parents, replaces naming the old blob, refuses a second create', async () => {
      const store = await makeStore();
      const first = committed(await store.commitWrite(commit('/cw/deep/a.txt', { mode: 'create', size: 3 })));
      expect(first.created).toBe(true);
      expect(first.createdDirectories).toEqual(['/cw', '/cw/deep']);
      expect(first.replaced).toBeNull();
      expect(first.entry).toMatchObject({ path: '/cw/deep/a.txt', type: 'file', size: 3, owner: 'u1', version: 1, instanceId: 'n1' });
      expect(await store.getEntry('/cw/deep/a.txt')).toEqual(first.entry);
      expect(await store.getEntry('/cw/deep')).toMatchObject({ type: 'directory', owner: 'u1' });
      const again = await store.commitWrite(commit('/cw/deep/a.txt', { mode: 'create' }));
      expect(again).toMatchObject({ kind: 'exists', current: { path: '/cw/deep/a.txt', blobKey: first.entry.blobKey } });
      const second = committed(await store.commitWrite(commit('/cw/deep/a.txt', { size: 9, instanceId: 'n2', originInstanceId: 'n2' })));
      expect(second.created).toBe(false);
      expect(second.createdDirectories).toEqual([]);
      expect(second.entry).toMatchObject({ size: 9, version: 2, instanceId: 'n2', ctime: first.entry.ctime });
      expect(second.replaced).toEqual({ path: '/cw/deep/a.txt', version: 1, blobKey: first.entry.blobKey, backendType: 'localfs', instanceId: 'n1' });
      // The deleted row names the blob to release.
      expect(await store.deleteEntry('/cw/deep/a.txt', f(1))).toMatchObject({ blobKey: second.entry.blobKey });
      await store.close();
    });

    it('applies ownership, directories in the way, conditions and the fencing epoch at commit', async () => {
      const store = await makeStore();
      const mine = committed(await store.commitWrite(commit('/cc/mine.txt')));
      await expect(store.commitWrite(commit('/cc/mine.txt', { owner: 'u2' }))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
      expect(committed(await store.commitWrite(commit('/cc/mine.txt', { owner: 'root', superUser: true }))).entry).toMatchObject({ owner: 'u1', version: 2 });
      await expect(store.commitWrite(commit('/cc'))).rejects.toMatchObject({ code: 'IS_A_DIRECTORY' });
      await expect(store.commitWrite(commit('/cc/mine.txt/under/x.txt'))).rejects.toMatchObject({ code: 'PARENT_NOT_DIRECTORY' });
      expect(await store.getEntry('/cc/mine.txt/under')).toBeNull();
      // Conditions: the expected version must be the current one (or absent for null).
      const stale = await store.commitWrite(commit('/cc/mine.txt', { expect: { version: mine.entry.version, ctimeMs: mine.entry.ctime.getTime() } }));
      expect(stale).toMatchObject({ kind: 'changed', current: { version: 2 } });
      expect(await store.commitWrite(commit('/cc/mine.txt', { expect: null }))).toMatchObject({ kind: 'changed', current: { version: 2 } });
      expect(await store.commitWrite(commit('/cc/none.txt', { expect: { version: 1, ctimeMs: 0 } }))).toEqual({ kind: 'changed', current: null });
      const current = await store.getEntry('/cc/mine.txt');
      expect(committed(await store.commitWrite(commit('/cc/mine.txt', { expect: { version: 2, ctimeMs: current?.ctime.getTime() ?? 0 } }))).entry.version).toBe(3);
      expect(committed(await store.commitWrite(commit('/cc/new.txt', { expect: null }))).created).toBe(true);
      await expect(store.commitWrite(commit('/cc/fenced.txt', { epoch: 2 }))).rejects.toMatchObject({ code: 'FENCED' });
      expect(await store.getEntry('/cc/fenced.txt')).toBeNull();
      await store.close();
    });

    it('serialises concurrent commits of one path in commit order, each replacing exactly the one before', async () => {
      const store = await makeStore();
      const writes = Array.from({ length: 24 }, () => commit('/race/r.txt'));
      const outcomes = (await Promise.all(writes.map((w) => store.commitWrite(w)))).map(committed);
      expect(outcomes.filter((o) => o.created)).toHaveLength(1);
      expect(outcomes.map((o) => o.entry.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
      const replacedKeys = outcomes.map((o) => o.replaced?.blobKey).filter((k): k is string => k !== undefined);
      const finalKey = (await store.getEntry('/race/r.txt'))?.blobKey;
      // Every key but the last one written was replaced exactly once: no version was lost or skipped.
      expect(new Set(replacedKeys).size).toBe(23);
      expect([...replacedKeys, finalKey].sort()).toEqual(writes.map((w) => w.blobKey).sort());
      await store.close();
    });

    it('moves legacy files to blob keys without changing their version (migration support)', async () => {
      const store = await makeStore();
      await store.createEntry(file('/legacy-a.txt', 4), f(1));
      await store.createEntry({ ...file('/legacy-s3.txt', 4), backendType: 's3', instanceId: null }, f(1));
      const before = await store.getEntry('/legacy-a.txt');
      expect(before?.blobKey).toBeNull();
      expect((await store.legacyFiles('n1', 'localfs', '', 10)).map((e) => e.path)).toContain('/legacy-a.txt');
      expect((await store.legacyFiles(null, 's3', '', 10)).map((e) => e.path)).toEqual(['/legacy-s3.txt']);
      const key = newBlobKey();
      expect(await store.adoptBlobKey('/legacy-a.txt', 2, key)).toBe(false);
      expect(await store.adoptBlobKey('/legacy-a.txt', 1, key)).toBe(true);
      expect(await store.adoptBlobKey('/legacy-a.txt', 1, newBlobKey())).toBe(false);
      expect(await store.getEntry('/legacy-a.txt')).toEqual({ ...before, blobKey: key });
      expect((await store.legacyFiles('n1', 'localfs', '', 10)).map((e) => e.path)).not.toContain('/legacy-a.txt');
      await store.close();
    });

    it('refuses to delete a non-empty directory', async () => {
      const store = await makeStore();
      await store.ensureDirectories([dir('/d')], f(0));
      await store.createEntry(file('/d/x'), f(1));
      await expect(store.deleteEntry('/d', f(2))).rejects.toMatchObject({ code: 'DIRECTORY_NOT_EMPTY' });
      await store.close();
    });

    it('moves a subtree in one step and applies the overwrite rules', async () => {
      const store = await makeStore();
      await store.ensureDirectories([dir('/m'), dir('/m/src'), dir('/m/src/inner')], f(0));
      await store.createEntry(file('/m/src/inner/f.txt'), f(1));
      await store.createEntry(file('/m/other.txt'), f(1));
      const moved = await store.moveEntry('/m/src', '/m/dst', { overwrite: false, fence: f(2) });
      expect(moved).toMatchObject({ path: '/m/dst', name: 'dst', type: 'directory' });
      expect((await store.listChildren('/m/dst/inner')).map((e) => e.path)).toEqual(['/m/dst/inner/f.txt']);
      expect(await store.getEntry('/m/src/inner/f.txt')).toBeNull();
      await expect(store.moveEntry('/m/other.txt', '/m/dst/inner/f.txt', { overwrite: false, fence: f(3) })).rejects.toMatchObject({ code: 'FILE_ALREADY_EXISTS' });
      await expect(store.moveEntry('/m/other.txt', '/m/dst', { overwrite: true, fence: f(3) })).rejects.toMatchObject({ code: 'IS_A_DIRECTORY' });
      await store.moveEntry('/m/other.txt', '/m/dst/inner/f.txt', { overwrite: true, fence: f(3) });
      expect(await store.getEntry('/m/other.txt')).toBeNull();
      await expect(store.moveEntry('/m/ghost', '/m/x', { overwrite: false, fence: f(4) })).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
      await store.close();
    });

    it('spends a link exactly once under concurrent redemption, and never after expiry', async () => {
      const store = await makeStore();
      await store.insertLink({ token: 'tok-1', path: '/x', signature: 'sig', expiresAt: new Date(Date.now() + 60_000) });
      expect(await store.getLink('tok-1')).toMatchObject({ path: '/x', status: 'active', signature: 'sig' });
      const results = await Promise.all(Array.from({ length: 20 }, () => store.consumeLink('tok-1', '127.0.0.1')));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await store.getLink('tok-1'))?.status).toBe('used');
      // Given back (its bytes could not be sent): usable once more, and only once.
      expect(await store.releaseLink('tok-1')).toBe(true);
      expect(await store.releaseLink('tok-1')).toBe(false);
      expect((await store.getLink('tok-1'))?.status).toBe('active');
      expect(await store.consumeLink('tok-1', null)).toBe(true);
      expect(await store.consumeLink('tok-1', null)).toBe(false);
      await store.insertLink({ token: 'tok-old', path: '/x', signature: 'sig', expiresAt: new Date(Date.now() - 1000) });
      expect(await store.consumeLink('tok-old', null)).toBe(false);
      expect(await store.deleteStaleLinks(0)).toBeGreaterThanOrEqual(1);
      expect(await store.getLink('tok-old')).toBeNull();
      await store.close();
    });

    it('claims peer nonces once across stores, alone or in batches', async () => {
      const [first, second] = [await makeStore(), await makeStore(true)];
      expect(await first.claimPeerNonce('n-1', 60_000)).toBe(true);
      // A batch answers with the nonces never seen: a repeat inside it is claimed once.
      const claimed = await second.claimPeerNonces(['n-1', 'n-2', 'n-3', 'n-2'], 60_000);
      expect([...claimed].sort()).toEqual(['n-2', 'n-3']);
      expect(await first.claimPeerNonce('n-3', 60_000)).toBe(false);
      expect([...(await first.claimPeerNonces(['n-1', 'n-2'], 60_000))]).toEqual([]);
      await Promise.all([first.close(), second.close()]);
    });

    it('publishes changes made through another store instance to subscribers', async () => {
      const [watcher, writer] = [await makeStore(), await makeStore(true)];
      const seen: MetadataChange[] = [];
      watcher.subscribe((change) => seen.push(change));
      await new Promise((r) => setTimeout(r, 300));
      await writer.createEntry(file('/feed.txt'), f(1));
      await writer.moveEntry('/feed.txt', '/feed2.txt', { overwrite: false, fence: f(2) });
      for (let i = 0; i < 50 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
      expect(seen).toEqual(expect.arrayContaining([
        { path: '/feed.txt', subtree: false },
        { path: '/feed.txt', subtree: true },
        { path: '/feed2.txt', subtree: true },
      ]));
      await Promise.all([watcher.close(), writer.close()]);
    });
  });
}
