/**
 * The versioned write path (issues 12.4, 14.2, 17): readers pin one version while writers
 * replace a file, acknowledged writes survive a SIGKILL of the node, and the migration command
 * moves legacy-layout bytes to blob keys without changing what clients see.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MIGRATIONS } from '../../app/adapters/metadata/migrations.js';
import { createPostgresMetadataStore } from '../../app/adapters/metadata/postgres.js';
import { LocalFsBlobStore } from '../../app/adapters/blob/local-fs.js';
import { migrateLegacyBlobs } from '../../app/services/blob-migration.js';
import { startNodeProcess } from '../support/node-process.js';
import { createTestDatabase, queryOnce } from '../../scripts/local-services/postgres.js';
import { freePort } from '../../scripts/local-services/processes.js';
import { storedFile, unreferencedBlobKeys } from '../support/stored-bytes.js';
import { api, startTestNode, type TestNode } from '../support/test-node.js';
import { eventually } from '../support/wait.js';

/** Version n's body: its size says which version it is, and every byte repeats n. */
const versionBody = (n: number): Buffer => Buffer.alloc(1000 + n * 37, n % 251);
const versionOfSize = (size: number): number => (size - 1000) / 37;

describe('readers pin one version under concurrent replace (12.4)', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startTestNode({ dsn: await createTestDatabase(inject('pgAdminUrl')), redisUrl: inject('redisUrl') });
  });
  afterAll(async () => {
    await node?.close();
  });

  it('ETag, X-CallFS-Size, Content-Range and bytes always describe the same version', async () => {
    const client = api(node.url);
    expect((await client('/v1/files/pin/f.bin', { method: 'PUT', body: versionBody(1) })).status).toBe(201);
    let writing = true;
    const writer = (async () => {
      for (let n = 2; writing && n < 400; n++) {
        const res = await client('/v1/files/pin/f.bin', { method: 'PUT', body: versionBody(n) });
        expect(res.status).toBe(200);
      }
    })();
    const etagSizes = new Map<string, number>();
    let reads = 0;
    const reader = async (ranged: boolean): Promise<void> => {
      for (let i = 0; i < 60; i++) {
        const res = await client('/v1/files/pin/f.bin', ranged ? { headers: { Range: 'bytes=500-1499' } } : {});
        const body = Buffer.from(await res.arrayBuffer());
        const etag = res.headers.get('etag') ?? '';
        const size = Number(res.headers.get('x-callfs-size'));
        const version = versionOfSize(size);
        expect(Number.isInteger(version)).toBe(true);
        if (ranged) {
          expect(res.status).toBe(206);
          expect(res.headers.get('content-range')).toBe(`bytes 500-${Math.min(1499, size - 1)}/${size}`);
          expect(body.equals(versionBody(version).subarray(500, 1500))).toBe(true);
        } else {
          expect(res.status).toBe(200);
          expect(body.equals(versionBody(version))).toBe(true);
        }
        // One ETag is one version: never paired with another size.
        expect(etagSizes.get(etag) ?? size).toBe(size);
        etagSizes.set(etag, size);
        reads++;
      }
    };
    await Promise.all([reader(false), reader(true), reader(false), reader(true)]);
    writing = false;
    await writer;
    expect(reads).toBe(240);
    // Several versions were seen, each with its own ETag.
    expect(etagSizes.size).toBeGreaterThan(1);
    // Every replaced version's bytes were released.
    const db = new pg.Client({ connectionString: node.config.metadataStore.type === 'postgres' ? node.config.metadataStore.dsn : '' });
    await db.connect();
    try {
      expect(await eventually(() => unreferencedBlobKeys(db, node.rootPath ?? ''), (keys) => keys.length === 0, 3000)).toEqual([]);
    } finally {
      await db.end();
    }
  });
});

describe('durability: SIGKILL during a burst of acknowledged small writes (17)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'callfs-durable-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('has every acknowledged write, with its exact bytes, after a restart', async () => {
    const dsn = await createTestDatabase(inject('pgAdminUrl'));
    const redisUrl = inject('redisUrl');
    const port = await freePort();
    const first = await startNodeProcess({ dir, dsn, redisUrl, instanceId: 'durable', port });
    const client = api(first.url);
    const acknowledged = new Map<string, Buffer>();
    let next = 0;
    let killed = false;
    const worker = async (): Promise<void> => {
      while (!killed && next < 2000) {
        const path = `/v1/files/burst/${Math.floor(next / 100)}/f${next++}.bin`;
        const body = randomBytes(1024 + (next % 3000));
        try {
          const res = await client(path, { method: 'PUT', body });
          if (res.status === 201) acknowledged.set(path, body);
        } catch {
          // The node died under this request: not acknowledged.
        }
      }
    };
    const workers = Array.from({ length: 16 }, () => worker());
    await eventually(async () => acknowledged.size, (n) => n >= 120, 90_000, 20);
    await first.kill();
    killed = true;
    await Promise.all(workers);
    expect(acknowledged.size).toBeGreaterThanOrEqual(120);
    const second = await startNodeProcess({ dir, dsn, redisUrl, instanceId: 'durable', port });
    try {
      const again = api(second.url);
      for (const [path, body] of acknowledged) {
        const res = await again(path);
        expect(res.status, path).toBe(200);
        expect(Buffer.from(await res.arrayBuffer()).equals(body), path).toBe(true);
      }
    } finally {
      await second.stop();
    }
  }, 180_000);
});

/** Creates the schema of the release before cluster markers and blob keys (migrations 1 to 8), as its nodes did. */
async function previousReleaseSchema(dsn: string): Promise<void> {
  const client = new pg.Client({ connectionString: dsn });
  await client.connect();
  try {
    await client.query('CREATE TABLE callfs_schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
    for (const migration of MIGRATIONS.filter((m) => m.version <= 8)) {
      await client.query(migration.sql);
      await client.query('INSERT INTO callfs_schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
    }
  } finally {
    await client.end();
  }
}

describe('migrate-blobs: legacy bytes move to blob keys, clients see no change', () => {
  it('lists in a dry run, then moves, keeping ETag, size and bytes', async () => {
    const dsn = await createTestDatabase(inject('pgAdminUrl'));
    const root = mkdtempSync(join(tmpdir(), 'callfs-legacy-'));
    // What the release before blob keys and cluster markers left: its schema (migrations up to 8),
    // rows without a blob key, bytes at their path, and a root with no marker.
    await previousReleaseSchema(dsn);
    await queryOnce(
      dsn,
      `INSERT INTO inodes (name, path, parent_path, type, size, owner, backend_type, callfs_instance_id, origin_instance_id)
       VALUES ('old', '/old', '/', 'directory', 0, 'owner', 'localfs', 'legacy-node', 'legacy-node'),
              ('a.txt', '/old/a.txt', '/old', 'file', 12, 'owner', 'localfs', 'legacy-node', 'legacy-node'),
              ('b.txt', '/old/b.txt', '/old', 'file', 12, 'owner', 'localfs', 'legacy-node', 'legacy-node')`,
    );
    for (const name of ['a.txt', 'b.txt']) {
      mkdirSync(join(root, 'old'), { recursive: true });
      writeFileSync(join(root, 'old', name), `legacy ${name}`);
    }
    // Upgrading runs the newer migrations: the cluster gets its identity, recorded as predating markers.
    const metadata = await createPostgresMetadataStore({ dsn });
    const blobs = { localfs: new LocalFsBlobStore({ rootPath: root }), s3: null };
    let node: TestNode | null = null;
    try {
      // The upgraded node starts over its unmarked root without backend.adopt_existing_storage, and marks it.
      node = await startTestNode({ dsn, redisUrl: inject('redisUrl'), instanceId: 'legacy-node', localRoot: root });
      const clusterId = (await queryOnce<{ cluster_id: string }>(dsn, 'SELECT cluster_id FROM callfs_cluster'))[0]?.cluster_id;
      expect((JSON.parse(readFileSync(join(root, '.callfs', 'cluster.json'), 'utf8')) as { cluster_id: string }).cluster_id).toBe(clusterId);
      const before = await api(node.url)('/v1/files/old/a.txt');
      expect(await before.text()).toBe('legacy a.txt');
      const etag = before.headers.get('etag');

      const dry = await migrateLegacyBlobs({ metadata, blobs, instanceId: 'legacy-node' }, { dryRun: true, includeS3: false });
      expect(dry).toMatchObject({ dryRun: true, found: { localfs: 2, s3: 0 }, moved: 0, skipped: [] });
      expect(existsSync(join(root, 'old', 'a.txt'))).toBe(true);
      expect((await metadata.getEntry('/old/a.txt'))?.blobKey).toBeNull();

      const done = await migrateLegacyBlobs({ metadata, blobs, instanceId: 'legacy-node' }, { dryRun: false, includeS3: false });
      expect(done).toMatchObject({ dryRun: false, found: { localfs: 2 }, moved: 2, bytes: 24, skipped: [] });
      expect(existsSync(join(root, 'old', 'a.txt'))).toBe(false);
      const moved = await metadata.getEntry('/old/a.txt');
      expect(moved?.blobKey).toMatch(/^\.callfs\/blobs\/[0-9a-f]{2}\/[0-9a-f]{32}$/);
      expect(readFileSync(await storedFile(dsn, root, '/old/a.txt'), 'utf8')).toBe('legacy a.txt');
      const after = await eventually(() => api(node?.url ?? '')('/v1/files/old/a.txt'), (res) => res.status === 200);
      expect(await after.text()).toBe('legacy a.txt');
      expect(after.headers.get('etag')).toBe(etag);
      // Nothing is left to move.
      expect((await migrateLegacyBlobs({ metadata, blobs, instanceId: 'legacy-node' }, { dryRun: true, includeS3: false })).found.localfs).toBe(0);
    } finally {
      await node?.close();
      await metadata.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
