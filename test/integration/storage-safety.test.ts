/**
 * Safe by default (issue 12): the node never destroys bytes it cannot prove the cluster wrote,
 * never refuses writes after a restart, and keeps what it stores inside its root and to itself.
 * Real Postgres, S3-compatible server and local disk; nodes run in-process.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { LocalFsBlobStore } from '../../app/adapters/blob/local-fs.js';
import { S3BlobStore } from '../../app/adapters/blob/s3.js';
import { createPostgresMetadataStore, type PostgresMetadataStore } from '../../app/adapters/metadata/postgres.js';
import { sweepOnce } from '../../app/node.js';
import { SILENT_LOGGER } from '../../app/observability/logger.js';
import { NodeMetrics } from '../../app/observability/metrics.js';
import { OrphanSweeper, type SweepReport } from '../../app/services/orphan-sweeper.js';
import { CLUSTER_MARKER_KEY, type NamedStore } from '../../app/services/storage-identity.js';
import { createTestDatabase, queryOnce } from '../../scripts/local-services/postgres.js';
import { storedFile, toLegacyLayout } from '../support/stored-bytes.js';
import { api, KEYS, startTestNode, type TestNode } from '../support/test-node.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

const tempRoot = (): string => mkdtempSync(join(tmpdir(), 'callfs-safety-'));
const markerOf = (root: string): { cluster_id: string } => JSON.parse(readFileSync(join(root, '.callfs', 'cluster.json'), 'utf8')) as { cluster_id: string };
const clusterIdOf = async (dsn: string): Promise<string> => (await queryOnce<{ cluster_id: string }>(dsn, 'SELECT cluster_id FROM callfs_cluster'))[0]?.cluster_id ?? '';
const blobKey = (): string => {
  const hex = randomBytes(16).toString('hex');
  return `.callfs/blobs/${hex.slice(0, 2)}/${hex.slice(2, 4)}/${hex}`;
};
/** Sets a file's times back, as if written `ms` ago. */
const age = (file: string, ms: number): void => {
  const then = new Date(Date.now() - ms);
  utimesSync(file, then, then);
};

describe('cluster identity of the database and the storage', () => {
  it('marks a fresh root with the database\'s cluster id, and starts again over it', async () => {
    const dsn = await createTestDatabase(inject('pgAdminUrl'));
    const root = tempRoot();
    const first = await startTestNode({ dsn, localRoot: root });
    await first.close();
    const id = await clusterIdOf(dsn);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(markerOf(root).cluster_id).toBe(id);
    expect(statSync(join(root, '.callfs', 'cluster.json')).mode & 0o777).toBe(0o600);
    const again = await startTestNode({ dsn, localRoot: root });
    await again.close();
  });

  it('refuses to start over a used root with an empty database, saying what it found in one line', async () => {
    const root = tempRoot();
    const usedDsn = await createTestDatabase(inject('pgAdminUrl'));
    const used = await startTestNode({ dsn: usedDsn, localRoot: root });
    expect((await api(used.url)('/v1/files/kept/report.txt', { method: 'PUT', body: 'precious' })).status).toBe(201);
    await used.close();
    const kept = await storedFile(usedDsn, root, '/kept/report.txt');
    const emptyDsn = await createTestDatabase(inject('pgAdminUrl'));
    const refusal = await startTestNode({ dsn: emptyDsn, localRoot: root }).then(
      async (node) => {
        await node.close();
        return null;
      },
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    expect(refusal).not.toBeNull();
    expect(refusal).not.toContain('\n');
    expect(refusal).toMatch(new RegExp(`local disk ${root} belongs to cluster ${markerOf(root).cluster_id}, but the database \\(cluster [0-9a-f-]+\\) holds no files`));
    expect(refusal).toMatch(/point metadata_store\.dsn at cluster .*'s database/);
    // Nothing was touched: the bytes and the marker stay.
    expect(readFileSync(kept, 'utf8')).toBe('precious');
    expect(markerOf(root).cluster_id).not.toBe(await clusterIdOf(emptyDsn));
  });

  it('refuses a root holding files without a marker unless told to adopt it, then marks it', async () => {
    const root = tempRoot();
    writeFileSync(join(root, 'someone-elses.txt'), 'not ours');
    const dsn = await createTestDatabase(inject('pgAdminUrl'));
    await expect(startTestNode({ dsn, localRoot: root })).rejects.toThrow(/holds files but no cluster marker.*backend\.adopt_existing_storage: true/);
    expect(existsSync(join(root, '.callfs', 'cluster.json'))).toBe(false);
    const adopted = await startTestNode({ dsn, localRoot: root, adoptExistingStorage: true });
    await adopted.close();
    expect(markerOf(root).cluster_id).toBe(await clusterIdOf(dsn));
    expect(readFileSync(join(root, 'someone-elses.txt'), 'utf8')).toBe('not ours');
  });

  it('refuses a bucket that belongs to another cluster', async () => {
    const s3 = inject('s3');
    const bucket = `identity-${Date.now().toString(36)}`;
    const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    const owner = await startTestNode({ dsn: await createTestDatabase(inject('pgAdminUrl')), s3: { ...s3, bucket } });
    await owner.close();
    const marker = await client.send(new GetObjectCommand({ Bucket: bucket, Key: CLUSTER_MARKER_KEY }));
    const bucketCluster = (JSON.parse(await marker.Body?.transformToString() ?? '{}') as { cluster_id: string }).cluster_id;
    const other = await createTestDatabase(inject('pgAdminUrl'));
    const stranger = await startTestNode({ dsn: other, s3: { ...s3, bucket } }).catch((error: unknown) => error);
    expect(String(stranger)).toContain(`bucket ${bucket} belongs to cluster ${bucketCluster}`);
    client.destroy();
  });
});

describe('the orphan sweeper', () => {
  let dsn: string;
  let root: string;
  let bucket: string;
  let s3Client: S3Client;
  let node: TestNode;
  let catalog: PostgresMetadataStore;
  let stores: NamedStore[];
  let local: LocalFsBlobStore;
  let remote: S3BlobStore;

  beforeAll(async () => {
    const s3 = inject('s3');
    dsn = await createTestDatabase(inject('pgAdminUrl'));
    root = tempRoot();
    bucket = `sweeper-${Date.now().toString(36)}`;
    s3Client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    await s3Client.send(new CreateBucketCommand({ Bucket: bucket }));
    // A node with both stores marks both with its cluster id.
    node = await startTestNode({ dsn, localRoot: root, s3: { ...s3, bucket } });
    catalog = await createPostgresMetadataStore({ dsn });
    local = new LocalFsBlobStore({ rootPath: root });
    remote = new S3BlobStore({ bucket, region: s3.region, endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, serverSideEncryption: null, kmsKeyId: null, acl: null });
    stores = [
      { name: `local disk ${root}`, store: local, setting: 'backend.localfs_root_path' },
      { name: `bucket ${bucket}`, store: remote, setting: 'backend.s3_bucket_name' },
    ];
  });

  afterAll(async () => {
    await catalog.close();
    await local.close();
    await remote.close();
    s3Client.destroy();
    await node.close();
  });

  const sweeperWith = (metrics: NodeMetrics | null = null): OrphanSweeper =>
    new OrphanSweeper(catalog, catalog, stores, { graceMs: 10 * 60_000, batchSize: 1000, usedLinkRetentionMs: DAY, quarantineRetentionMs: 7 * DAY }, metrics);
  const bucketKeys = async (): Promise<string[]> => ((await s3Client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key ?? '');
  const putObject = (key: string, body: string): Promise<unknown> => s3Client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  /** Records a local-disk version under `key` for `path` the way a node's write commits it. */
  const commitBlob = async (path: string, key: string, size: number): Promise<void> => {
    const outcome = await catalog.commitWrite({
      path,
      mode: 'replace',
      owner: 'api-user-0',
      superUser: false,
      size,
      blobKey: key,
      backendType: 'localfs',
      instanceId: 'node1',
      originInstanceId: 'node1',
      directoryBackendType: 'localfs',
      directoryInstanceId: 'node1',
      epoch: null,
    });
    expect(outcome.kind).toBe('committed');
  };
  const writeLocal = (key: string, body: string, ageMs: number): void => {
    const file = join(root, ...key.split('/'));
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, body);
    age(file, ageMs);
  };

  it('keeps foreign files and legacy bytes, quarantines a crashed write\'s blob, deletes it after the retention', async () => {
    const owner = api(node.url, KEYS.owner);
    // A file written through the API: its version's bytes under a blob key in the bucket, named by its row.
    expect((await owner('/v1/files/written/doc.txt', { method: 'PUT', body: 'current bytes' })).status).toBe(201);
    const written = (await queryOnce<{ blob_key: string }>(dsn, 'SELECT blob_key FROM inodes WHERE path = $1', ['/written/doc.txt']))[0]?.blob_key ?? '';
    expect(written).toMatch(/^\.callfs\/blobs\//);
    // A file an earlier release wrote (legacy layout: bytes at the path's key in the bucket, blob_key NULL).
    await catalog.ensureDirectories([{ path: '/legacy', type: 'directory', size: 0, owner: 'api-user-0', backendType: 's3', instanceId: null, originInstanceId: 'node1' }], { token: 0, epoch: null });
    await catalog.createEntry({ path: '/legacy/doc.txt', type: 'file', size: 12, owner: 'api-user-0', backendType: 's3', instanceId: null, originInstanceId: 'node1' }, { token: 0, epoch: null });
    await putObject('legacy/doc.txt', 'legacy bytes');
    expect(await (await owner('/v1/files/legacy/doc.txt')).text()).toBe('legacy bytes');
    // Bytes of the legacy layout on the local disk whose row is gone: not the sweeper's either.
    writeLocal('legacy/old-row-deleted.txt', 'legacy bytes', DAY);
    // What a user dropped into the root and the bucket: no row, never ours.
    writeLocal('foreign.txt', 'dropped by a user', DAY);
    writeLocal('photos/2019/beach.jpg', 'a photo', DAY);
    await putObject('foreign/object.bin', 'someone else\'s object');
    // A blob some entry names, and the blobs of writes that crashed before their commit.
    const referenced = blobKey();
    const orphan = blobKey();
    const bucketOrphan = blobKey();
    const young = blobKey();
    writeLocal(referenced, 'current version', DAY);
    writeLocal(orphan, 'crashed write', DAY);
    // A minute before the sweep's "now" (an hour ahead, see below): inside the grace period.
    writeLocal(young, 'write in progress', -HOUR + 60_000);
    await putObject(bucketOrphan, 'crashed write in the bucket');
    // The write of `referenced` committed: its row names it.
    await commitBlob('/current/doc.txt', referenced, 'current version'.length);

    // Dry run: the list of what would be done, and nothing done. The bucket's objects are
    // minutes old, so the sweep is run an hour "later".
    const now = new Date(Date.now() + HOUR);
    const dry = await sweeperWith().sweep({ dryRun: true, now });
    expect(dry.actions.filter((a) => a.action === 'quarantine')).toEqual([
      { store: `local disk ${root}`, action: 'quarantine', key: orphan },
      { store: `bucket ${bucket}`, action: 'quarantine', key: bucketOrphan },
    ]);
    expect(dry).toMatchObject({ dryRun: true, quarantined: 2, purged: 0, skipped: [] });
    expect(existsSync(join(root, orphan))).toBe(true);
    expect(await bucketKeys()).toContain(bucketOrphan);

    const metrics = new NodeMetrics(() => 0);
    const report: SweepReport = await sweeperWith(metrics).sweep({ now });
    expect(report).toMatchObject({ dryRun: false, quarantined: 2, purged: 0, skipped: [] });
    // Survivors: user files, legacy bytes, the referenced blob, the young blob, the markers.
    expect(readFileSync(join(root, 'foreign.txt'), 'utf8')).toBe('dropped by a user');
    expect(readFileSync(join(root, 'photos', '2019', 'beach.jpg'), 'utf8')).toBe('a photo');
    expect(readFileSync(join(root, 'legacy', 'old-row-deleted.txt'), 'utf8')).toBe('legacy bytes');
    expect(readFileSync(join(root, referenced), 'utf8')).toBe('current version');
    expect(readFileSync(join(root, young), 'utf8')).toBe('write in progress');
    expect(existsSync(join(root, CLUSTER_MARKER_KEY))).toBe(true);
    const objects = await bucketKeys();
    expect(objects).toContain('foreign/object.bin');
    expect(objects).toContain('legacy/doc.txt');
    expect(objects).toContain(written);
    expect(objects).toContain(CLUSTER_MARKER_KEY);
    expect(await (await owner('/v1/files/written/doc.txt')).text()).toBe('current bytes');
    // The orphans moved to the quarantine, bytes intact.
    const stamp = now.toISOString().replace(/[-:.]/g, '');
    const quarantined = `.callfs/quarantine/${stamp}/${orphan.slice('.callfs/'.length)}`;
    expect(existsSync(join(root, orphan))).toBe(false);
    expect(readFileSync(join(root, quarantined), 'utf8')).toBe('crashed write');
    expect(objects).not.toContain(bucketOrphan);
    expect(objects).toContain(`.callfs/quarantine/${stamp}/${bucketOrphan.slice('.callfs/'.length)}`);
    expect(metrics.registry.render()).toContain('callfs_sweeper_objects_total{action="quarantine"} 2');

    // The write in progress commits.
    await commitBlob('/legacy/committed.txt', young, 'write in progress'.length);

    // Within the retention nothing is deleted; after it the quarantine is emptied.
    expect((await sweeperWith().sweep({ now: new Date(now.getTime() + 6 * DAY) })).purged).toBe(0);
    const later = await sweeperWith().sweep({ now: new Date(now.getTime() + 7 * DAY + 1000) });
    expect(later.purged).toBe(2);
    expect(existsSync(join(root, quarantined))).toBe(false);
    expect(readdirSync(join(root, '.callfs', 'quarantine'))).toEqual([]);
    expect((await bucketKeys()).filter((key) => key.startsWith('.callfs/quarantine/'))).toEqual([]);
    // And still: the user's file, the legacy bytes, the referenced blob.
    expect(existsSync(join(root, 'foreign.txt'))).toBe(true);
    expect(existsSync(join(root, 'legacy', 'old-row-deleted.txt'))).toBe(true);
    expect(existsSync(join(root, referenced))).toBe(true);
    expect(existsSync(join(root, young))).toBe(true);
    expect(await bucketKeys()).toEqual(expect.arrayContaining(['foreign/object.bin', 'legacy/doc.txt', written, CLUSTER_MARKER_KEY]));
  });

  it('removes its own stale temporary files, and nothing else of the same age', async () => {
    writeLocal('tmpdir/.callfs-tmp-0123456789abcdef', 'crash leftover', DAY);
    writeLocal('tmpdir/kept.txt', 'user file', DAY);
    const report = await sweeperWith().sweep();
    expect(report.actions).toContainEqual({ store: `local disk ${root}`, action: 'remove-temporary', key: 'tmpdir/.callfs-tmp-0123456789abcdef' });
    expect(readdirSync(join(root, 'tmpdir'))).toEqual(['kept.txt']);
  });

  it('runs a dry sweep by hand from the node\'s configuration, changing nothing', async () => {
    const orphan = blobKey();
    writeLocal(orphan, 'crashed write', DAY);
    const report = await sweepOnce(node.config, { dryRun: true, logger: SILENT_LOGGER });
    expect(report).toMatchObject({ dryRun: true, skipped: [], links: 0 });
    expect(report.actions).toContainEqual({ store: `local disk ${root}`, action: 'quarantine', key: orphan });
    expect(readFileSync(join(root, orphan), 'utf8')).toBe('crashed write');
  });

  it('skips a store whose marker names another cluster', async () => {
    const otherRoot = tempRoot();
    mkdirSync(join(otherRoot, '.callfs'));
    writeFileSync(join(otherRoot, '.callfs', 'cluster.json'), JSON.stringify({ cluster_id: 'another-cluster' }));
    const stray = blobKey();
    mkdirSync(join(otherRoot, stray, '..'), { recursive: true });
    writeFileSync(join(otherRoot, stray), 'their blob');
    age(join(otherRoot, stray), DAY);
    const store = new LocalFsBlobStore({ rootPath: otherRoot });
    const sweeper = new OrphanSweeper(catalog, catalog, [{ name: 'other', store, setting: 'backend.localfs_root_path' }], {
      graceMs: 60_000,
      batchSize: 100,
      usedLinkRetentionMs: DAY,
      quarantineRetentionMs: 0,
    });
    const report = await sweeper.sweep();
    expect(report.skipped).toEqual([{ store: 'other', reason: expect.stringContaining('cluster another-cluster') as string }]);
    expect(readFileSync(join(otherRoot, stray), 'utf8')).toBe('their blob');
    await store.close();
    rmSync(otherRoot, { recursive: true, force: true });
  });
});

describe('fencing tokens of the in-process lock manager', () => {
  it('keep growing across a restart: every fenced change succeeds at the first attempt', async () => {
    const dsn = await createTestDatabase(inject('pgAdminUrl'));
    const root = tempRoot();
    // Directory creations and deletes take a lock, and the rows they write or remove carry (are
    // checked against) its fencing token. File writes commit without a lock (no token).
    const dirs = Array.from({ length: 50 }, (_, i) => `/fences/dir-${String(i).padStart(2, '0')}`);
    let node = await startTestNode({ dsn, localRoot: root });
    for (const dir of dirs) expect((await api(node.url)(`/v1/files${dir}/`, { method: 'POST' })).status).toBe(201);
    expect((await api(node.url)('/v1/files/fences/file.txt', { method: 'PUT', body: 'v1' })).status).toBe(201);
    await node.close();
    const stored = await queryOnce<{ fence: string }>(dsn, "SELECT fence FROM inodes WHERE path LIKE '/fences/dir-%' ORDER BY path");
    expect(Number(stored.at(-1)?.fence)).toBeGreaterThanOrEqual(dirs.length);
    node = await startTestNode({ dsn, localRoot: root });
    try {
      // In reverse order: the first deletes after the restart meet the rows with the highest fences.
      const statuses: number[] = [];
      for (const dir of [...dirs].reverse()) statuses.push((await api(node.url)(`/v1/files${dir}`, { method: 'DELETE' })).status);
      expect(statuses).toEqual(dirs.map(() => 204));
      expect(await queryOnce(dsn, "SELECT path FROM inodes WHERE path LIKE '/fences/dir-%'")).toEqual([]);
      expect((await api(node.url)('/v1/files/fences/file.txt', { method: 'PUT', body: 'v2' })).status).toBe(200);
      expect(readFileSync(await storedFile(dsn, root, '/fences/file.txt'), 'utf8')).toBe('v2');
    } finally {
      await node.close();
    }
  });
});

describe('what the node stores on disk', () => {
  let node: TestNode;
  let db: pg.Client;
  const outside = mkdtempSync(join(tmpdir(), 'callfs-outside-'));

  beforeAll(async () => {
    const dsn = await createTestDatabase(inject('pgAdminUrl'));
    node = await startTestNode({ dsn, maxFileBytes: 64 });
    db = new pg.Client({ connectionString: dsn });
    await db.connect();
  });

  afterAll(async () => {
    await db.end();
    await node.close();
    rmSync(outside, { recursive: true, force: true });
  });

  const owner = (path: string, init: Parameters<ReturnType<typeof api>>[1] = {}) => api(node.url)(path, init);
  const onDisk = (...names: string[]): string => join(node.rootPath ?? '', ...names);

  it('is readable by the node\'s user only: files 0600, directories 0700', async () => {
    expect((await owner('/v1/files/private/deep/er/file.txt', { method: 'PUT', body: 'secret' })).status).toBe(201);
    expect((await owner('/v1/files/private/made-dir/', { method: 'POST' })).status).toBe(201);
    const file = await storedFile(db, node.rootPath ?? '', '/private/deep/er/file.txt');
    expect(readFileSync(file, 'utf8')).toBe('secret');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // The file's bytes are under its blob key (.callfs/blobs/<fan>/<key>); a created directory is on disk too.
    const fan = file.slice(onDisk().length + 1).split('/').slice(0, -1);
    expect(fan).toHaveLength(3);
    for (const dir of [['.callfs'], ['.callfs', 'blobs'], fan, ['private'], ['private', 'made-dir']]) {
      expect(statSync(onDisk(...dir)).mode & 0o777, dir.join('/')).toBe(0o700);
    }
  });

  it('never reads or writes through a directory swapped for a symbolic link after use', async () => {
    // A file of the legacy layout (bytes at its path) and one of the versioned layout (bytes under a blob key).
    expect((await owner('/v1/files/swap/a.txt', { method: 'PUT', body: 'inside' })).status).toBe(201);
    await toLegacyLayout(db, onDisk(), '/swap/a.txt');
    expect(await (await owner('/v1/files/swap/a.txt')).text()).toBe('inside');
    expect((await owner('/v1/files/swap/b.txt', { method: 'PUT', body: 'inside too' })).status).toBe(201);
    expect(await (await owner('/v1/files/swap/b.txt')).text()).toBe('inside too');
    const bKey = (await db.query<{ blob_key: string }>("SELECT blob_key FROM inodes WHERE path = '/swap/b.txt'")).rows[0]?.blob_key ?? '';
    const bFan = bKey.split('/').slice(2, -1);
    // Someone with access to the disk swaps the used directories for links to elsewhere, holding
    // files of the same names: the legacy file's directory, and the directory of every blob.
    writeFileSync(join(outside, 'a.txt'), 'outside secret');
    mkdirSync(join(outside, ...bFan), { recursive: true });
    writeFileSync(join(outside, ...bFan, bKey.split('/').at(-1) ?? ''), 'outside secret');
    renameSync(onDisk('swap'), onDisk('swap-moved'));
    symlinkSync(outside, onDisk('swap'));
    renameSync(onDisk('.callfs', 'blobs'), onDisk('.callfs', 'blobs-moved'));
    symlinkSync(outside, onDisk('.callfs', 'blobs'));
    // An old file there shaped like an unreferenced blob: not the sweeper's to judge.
    const stray = `cd/cd${'0123456789abcdef'.repeat(2).slice(2)}`;
    mkdirSync(join(outside, 'cd'), { recursive: true });
    writeFileSync(join(outside, stray), 'outside, not ours');
    utimesSync(join(outside, stray), new Date(Date.now() - 30 * DAY), new Date(Date.now() - 30 * DAY));
    const outsideBefore = readdirSync(outside, { recursive: true }).map(String).sort();
    try {
      expect(lstatSync(onDisk('swap')).isSymbolicLink()).toBe(true);
      const sweep = await sweepOnce(node.config, { dryRun: true, logger: SILENT_LOGGER });
      expect(sweep.actions.map((action) => action.key)).not.toContain(`.callfs/blobs/${stray}`);
      for (const name of ['a.txt', 'b.txt']) {
        const read = await owner(`/v1/files/swap/${name}`);
        const body = await read.text();
        expect(body, name).not.toContain('outside secret');
        expect(read.status, name).toBe(400);
        expect(JSON.parse(body), name).toMatchObject({ code: 'INVALID_PATH' });
      }
      for (const name of ['a.txt', 'b.txt', 'c.txt']) {
        const write = await owner(`/v1/files/swap/${name}`, { method: 'PUT', body: 'escaped' });
        expect(write.status, name).toBe(400);
      }
      expect(readdirSync(outside, { recursive: true }).map(String).sort()).toEqual(outsideBefore);
      expect(readFileSync(join(outside, 'a.txt'), 'utf8')).toBe('outside secret');
      expect(readFileSync(join(outside, ...bFan, bKey.split('/').at(-1) ?? ''), 'utf8')).toBe('outside secret');
    } finally {
      rmSync(onDisk('.callfs', 'blobs'));
      renameSync(onDisk('.callfs', 'blobs-moved'), onDisk('.callfs', 'blobs'));
    }
    // Back in place, the versioned file reads again and kept its bytes.
    expect(await (await owner('/v1/files/swap/b.txt')).text()).toBe('inside too');
  });

  it('answers paths near the limits with 400, and a failed write leaves no directory rows', async () => {
    // Random names do not compress: a path of about 2.8 kB exceeds what a Postgres index entry holds.
    const long = Array.from({ length: 14 }, () => randomBytes(100).toString('hex')).join('/');
    const tooLong = await owner(`/v1/files/limits/${long}`, { method: 'PUT', body: 'x' });
    expect(tooLong.status).toBe(400);
    expect((await tooLong.json()).code).toBe('INVALID_PATH');
    const nearest = `limits/${'a'.repeat(255)}/${'b'.repeat(255)}/${'c'.repeat(255)}/${'d'.repeat(1024 - '/limits/'.length - 3 * 256)}`;
    expect(new TextEncoder().encode(`/${nearest}`).length).toBe(1024);
    expect((await owner(`/v1/files/${nearest}`, { method: 'PUT', body: 'fits' })).status).toBe(201);
    expect(await (await owner(`/v1/files/${nearest}`)).text()).toBe('fits');
    expect((await owner(`/v1/files/${nearest}x`, { method: 'PUT', body: 'x' })).status).toBe(400);
    // A body over the size limit fails after the write began: no parent directory is recorded.
    const chunks = Readable.toWeb(Readable.from([Buffer.alloc(40), Buffer.alloc(40)])) as ReadableStream<Uint8Array>;
    const big = await owner('/v1/files/failed-parent/inner/big.bin', { method: 'PUT', body: chunks, duplex: 'half' });
    expect(big.status).toBe(413);
    const failed = await db.query("SELECT path FROM inodes WHERE path = '/failed-parent' OR path LIKE '/failed-parent/%'");
    expect(failed.rows).toEqual([]);
    // Under /limits: only the path that fitted and its parents, nothing of the refused ones.
    const limits = await db.query<{ path: string }>("SELECT path FROM inodes WHERE path = '/limits' OR path LIKE '/limits/%'");
    expect(limits.rows.length).toBe(5);
    for (const row of limits.rows) expect(`/${nearest}`.startsWith(row.path)).toBe(true);
  });

  it('stores one Unicode form: NFC and NFD café.txt are one entry; invisible characters are refused', async () => {
    const nfd = encodeURIComponent('cafe\u0301.txt');
    const nfc = encodeURIComponent('caf\u00e9.txt');
    expect(nfd).not.toBe(nfc);
    expect((await owner(`/v1/files/unicode/${nfd}`, { method: 'PUT', body: 'one' })).status).toBe(201);
    expect(await (await owner(`/v1/files/unicode/${nfc}`)).text()).toBe('one');
    const again = await owner(`/v1/files/unicode/${nfc}`, { method: 'POST', body: 'two' });
    expect(again.status).toBe(409);
    expect((await owner(`/v1/files/unicode/${nfc}`, { method: 'PUT', body: 'two' })).status).toBe(200);
    expect(await (await owner(`/v1/files/unicode/${nfd}`)).text()).toBe('two');
    const listing = await (await owner('/v1/directories/unicode')).json();
    expect(listing.items.map((e: { name: string }) => e.name)).toEqual(['caf\u00e9.txt']);
    // One row, in NFC, whose stored bytes are the last write's.
    const rows = await db.query<{ path: string }>("SELECT path FROM inodes WHERE path LIKE '/unicode/%'");
    expect(rows.rows.map((r) => r.path)).toEqual(['/unicode/caf\u00e9.txt']);
    expect(readFileSync(await storedFile(db, onDisk(), '/unicode/caf\u00e9.txt'), 'utf8')).toBe('two');
    for (const invisible of ['%E2%80%8B', '%E2%80%8D', '%EF%BB%BF', '%E2%80%A8', '%E2%80%A9', '%C2%AD']) {
      const res = await owner(`/v1/files/unicode/look${invisible}alike.txt`, { method: 'PUT', body: 'x' });
      expect(res.status).toBe(400);
      expect((await res.json()).code).toBe('INVALID_PATH');
    }
  });

  it('refuses every path whose first name is .callfs (the stores\' own data)', async () => {
    for (const [method, path] of [
      ['GET', '/v1/files/.callfs/cluster.json'],
      ['PUT', '/v1/files/.callfs/blobs/x'],
      ['POST', '/v1/files/.callfs/'],
      ['DELETE', '/v1/files/.callfs/cluster.json'],
      ['GET', '/v1/directories/.callfs'],
      ['GET', '/v1/files/a/../.callfs/cluster.json'],
    ] as const) {
      const res = await owner(path, { method, ...(method === 'PUT' || method === 'POST' ? { body: 'x' } : {}) });
      expect(res.status, `${method} ${path}`).toBe(400);
      expect((await res.json()).code).toBe('INVALID_PATH');
    }
    const move = await owner('/v1/files/private/deep/er/file.txt', { method: 'PATCH', body: JSON.stringify({ destination: '/.callfs/cluster.json' }) });
    expect(move.status).toBe(400);
    expect(existsSync(onDisk('.callfs', 'cluster.json'))).toBe(true);
    // Below the top level the name is an ordinary one.
    expect((await owner('/v1/files/private/.callfs/ok.txt', { method: 'PUT', body: 'fine' })).status).toBe(201);
  });
});
