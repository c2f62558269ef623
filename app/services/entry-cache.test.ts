import { describe, expect, it } from 'vitest';
import { MemoryMetadataStore } from '../adapters/metadata/memory.js';
import { entryFingerprint, type NewEntry } from '../domain/entry.js';
import { NO_TELEMETRY } from '../ports/telemetry.js';
import { EntryCache } from './entry-cache.js';

/** A memory store that counts how often the cache asks it to sync its change feed. */
class CountingStore extends MemoryMetadataStore {
  syncs = 0;
  override async syncChanges(): Promise<boolean> {
    this.syncs++;
    return super.syncChanges();
  }
}

const file = (path: string): NewEntry => ({ path, type: 'file', size: 3, owner: 'u1', backendType: 'localfs', instanceId: 'n1', originInstanceId: 'n1' });
const fence = { token: 1, epoch: 1 };

describe('EntryCache, a read forwarded with the entry the forwarder saw', () => {
  it('serves the cached entry without a sync when it is the one vouched for', async () => {
    const store = new CountingStore();
    const cache = new EntryCache(store, NO_TELEMETRY, { maxEntries: 10, ttlMs: 60_000 });
    cache.start();
    const created = await store.createEntry(file('/v.txt'), fence);
    const first = await cache.get('/v.txt');
    expect(first).toEqual(created);
    const syncs = store.syncs;
    expect(await cache.get('/v.txt', entryFingerprint(created))).toBe(first);
    expect(store.syncs).toBe(syncs);
    cache.stop();
  });

  it('syncs as usual when the vouched entry is not the cached one (or nothing is cached)', async () => {
    const store = new CountingStore();
    const cache = new EntryCache(store, NO_TELEMETRY, { maxEntries: 10, ttlMs: 60_000 });
    cache.start();
    const created = await store.createEntry(file('/w.txt'), fence);
    // Nothing cached yet: read from the store.
    expect(await cache.get('/w.txt', entryFingerprint(created))).toEqual(created);
    const syncs = store.syncs;
    // A forwarder that saw another version: this node checks its feed before trusting its slot.
    expect(await cache.get('/w.txt', entryFingerprint({ ...created, version: created.version + 1 }))).toEqual(created);
    expect(store.syncs).toBe(syncs + 1);
    cache.stop();
  });

  it('fingerprints differ whenever an answer would (version, size, times, owner, mode, holder)', () => {
    const base = { path: '/x', name: 'x', type: 'file' as const, size: 1, mode: '0644', owner: 'u 1', mtime: new Date(1000), ctime: new Date(500), backendType: 'localfs' as const, instanceId: 'n1', originInstanceId: 'n1', version: 1, blobKey: null };
    const variants = [{ version: 2 }, { size: 2 }, { mtime: new Date(2000) }, { ctime: new Date(600) }, { owner: 'u2' }, { mode: '0600' }, { instanceId: 'n2' }, { blobKey: '.callfs/blobs/ab/ab' }];
    const prints = new Set([entryFingerprint(base), ...variants.map((v) => entryFingerprint({ ...base, ...v }))]);
    expect(prints.size).toBe(variants.length + 1);
    expect(entryFingerprint(base)).toMatch(/^[\x21-\x7e ]+$/);
  });
});
