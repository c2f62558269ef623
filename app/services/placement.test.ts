import { describe, expect, it } from 'vitest';
import type { Entry } from '../domain/entry.js';
import { parsePath } from '../domain/path.js';
import { isAppError } from '../errors/app-error.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { EntryCache } from './entry-cache.js';
import { FileContext, type FileServiceDeps } from './file-context.js';
import { filesTarget, Placement } from './placement.js';

const OWNER = 'alice';

function entry(path: string, fields: Partial<Entry> = {}): Entry {
  return { path, type: 'file', backendType: 'localfs', instanceId: 'self', originInstanceId: 'self', owner: OWNER, version: 1, blobKey: null, ...fields } as Entry;
}

/** A placement over a store that knows `entries` (read straight or through the cache alike). */
function placementWith(entries: Entry[], canForward = true): Placement {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const get = (path: string): Promise<Entry | null> => Promise.resolve(byPath.get(path) ?? null);
  const deps = {
    instanceId: 'self',
    blobs: { localfs: {} as BlobStore, s3: null },
    metadata: { getEntry: get },
    cache: { get } as unknown as EntryCache,
  } as unknown as FileServiceDeps;
  return new Placement(new FileContext(deps), canForward);
}

const held = entry('/held/a b.txt', { instanceId: 'node2', originInstanceId: 'node2' });
const local = entry('/mine.txt');

describe('deciding where a request is served', () => {
  it('serves bytes this node holds here, with their location', async () => {
    expect(await placementWith([local]).read(local)).toMatchObject({ serve: 'here', location: { kind: 'local', key: 'mine.txt' } });
  });

  it('forwards every kind of request on a file another node holds to that node, before reading a body', async () => {
    const placement = placementWith([entry('/held', { type: 'directory' }), held]);
    const forward = { serve: 'forward', instanceId: 'node2', path: '/held/a b.txt', target: '/v1/files/held/a%20b.txt' };
    expect(await placement.read(held)).toEqual(forward);
    expect(await placement.put(OWNER, parsePath('/held/a b.txt'))).toEqual(forward);
    expect(await placement.remove(OWNER, '/held/a b.txt')).toEqual(forward);
    expect(await placement.move('/held/a b.txt')).toEqual(forward);
  });

  it('places a PUT that creates a file here, with no existing entry', async () => {
    expect(await placementWith([]).put(OWNER, parsePath('/new.txt'))).toEqual({ serve: 'here', path: '/new.txt', existing: null });
  });

  it('always serves a POST here (a path held elsewhere is answered with a 409 there)', () => {
    expect(placementWith([held]).create()).toEqual({ serve: 'here' });
  });

  it('answers refusals here rather than forwarding them', async () => {
    const placement = placementWith([held]);
    await expect(placement.put('mallory', parsePath('/held/a b.txt'))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await expect(placement.put(OWNER, parsePath('/held/'))).rejects.toMatchObject({ code: 'IS_A_DIRECTORY' });
    await expect(placement.remove(OWNER, '/missing')).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    await expect(placement.move('/missing')).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
  });

  it('answers PEER_UNAVAILABLE naming the holder when this node has no peers to forward through', async () => {
    const error: unknown = await placementWith([held], false).read(held).catch((e: unknown) => e);
    expect(isAppError(error) && error.code === 'PEER_UNAVAILABLE' && error.details?.['instance_id'] === 'node2' && error.retryAfterSec === 5).toBe(true);
  });

  it('builds a canonical files target, each segment encoded once', () => {
    expect(filesTarget('/a b/c%d')).toBe('/v1/files/a%20b/c%25d');
  });
});
