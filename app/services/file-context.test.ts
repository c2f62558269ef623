import { describe, expect, it } from 'vitest';
import type { Entry } from '../domain/entry.js';
import type { BlobStore } from '../ports/blob-store.js';
import { FileContext, type FileServiceDeps, type ReplicaReads } from './file-context.js';

const REGIONS: Record<string, string> = { self: 'eu', holder: 'us', 'rep-eu': 'eu', 'rep-ap': 'ap', 'rep-sa': 'sa' };
const RTT: Record<string, number> = { eu: 0, us: 80, ap: 150, sa: 200 };

function contextWith(replicas: string[], down: string[] = []): FileContext {
  const reads: ReplicaReads = {
    currentReplicas: () => Promise.resolve(replicas),
    isUp: (id) => !down.includes(id),
    regionOf: (id) => REGIONS[id] ?? 'eu',
    distanceTo: (region) => RTT[region] ?? 10_000,
  };
  const deps = { instanceId: 'self', blobs: { localfs: {} as BlobStore, s3: null }, replicaReads: reads } as unknown as FileServiceDeps;
  return new FileContext(deps);
}

const entry = { path: '/f.txt', type: 'file', backendType: 'localfs', instanceId: 'holder', originInstanceId: 'holder', version: 3 } as Entry;

describe('choosing where to read a file another node holds', () => {
  it('reads its own current copy', async () => {
    expect(await contextWith(['self', 'rep-ap']).locateForRead(entry)).toMatchObject({ kind: 'local', key: 'f.txt' });
  });

  it('prefers a copy in its own region over a remote holder', async () => {
    expect(await contextWith(['rep-ap', 'rep-eu']).locateForRead(entry)).toEqual({ kind: 'remote', instanceId: 'rep-eu' });
  });

  it('otherwise takes the nearest region by round trip, the holder first among equals', async () => {
    expect(await contextWith(['rep-ap']).locateForRead(entry)).toEqual({ kind: 'remote', instanceId: 'holder' });
    expect(await contextWith(['rep-sa', 'rep-ap'], ['holder']).locateForRead(entry)).toEqual({ kind: 'remote', instanceId: 'rep-ap' });
  });

  it('falls back to the holder when nothing with the bytes is reachable', async () => {
    expect(await contextWith(['rep-ap'], ['holder', 'rep-ap']).locateForRead(entry)).toEqual({ kind: 'remote', instanceId: 'holder' });
  });

  it('goes to the holder when there is no current copy', async () => {
    expect(await contextWith([]).locateForRead(entry)).toEqual({ kind: 'remote', instanceId: 'holder' });
  });
});
