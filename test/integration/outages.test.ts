/**
 * Dependencies failing under a running node: Postgres or Redis going away answers 503 with a
 * clear code (never a hang or a 500) and the node recovers by itself when they return; a full
 * disk answers 507 and leaves the metadata untouched.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, startPostgres, type PostgresServer } from '../../scripts/local-services/postgres.js';
import { startRedis, type RedisServer } from '../../scripts/local-services/redis.js';
import { storedBlobKeys, storedFile } from '../support/stored-bytes.js';
import { api, startTestNode, type TestNode } from '../support/test-node.js';

describe('Postgres and Redis outages', () => {
  let postgres: PostgresServer;
  let redis: RedisServer;
  let node: TestNode;

  beforeAll(async () => {
    [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
    node = await startTestNode({ dsn: await createTestDatabase(postgres.adminUrl), redisUrl: redis.url });
  });

  afterAll(async () => {
    await node.close();
    await Promise.all([postgres.destroy(), redis.stop()]);
  });

  it('answers 503 (METADATA_UNAVAILABLE or WRITES_UNAVAILABLE) while Postgres is down and recovers without a restart', async () => {
    const files = api(node.url);
    expect((await files('/v1/files/pg.txt', { method: 'PUT', body: 'before' })).status).toBe(201);
    await postgres.stop();
    const started = Date.now();
    const down = await files('/v1/files/other.txt', { method: 'PUT', body: 'during' });
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).not.toBeNull();
    // METADATA_UNAVAILABLE from the failed call, or WRITES_UNAVAILABLE when the node's own look at
    // the primary (EpochWatch) failed first and the write was refused before it started.
    expect(['METADATA_UNAVAILABLE', 'WRITES_UNAVAILABLE']).toContain((await down.json()).code);
    expect(Date.now() - started).toBeLessThan(8000);
    const ready = await files('/ready');
    expect(ready.status).toBe(503);
    await postgres.start();
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await files('/v1/files/pg.txt')).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(200);
    // Writes come back once the node has looked at the primary again (a write refused while it was
    // unreachable makes it look at once): within a few attempts, with no restart.
    let written = 0;
    for (let i = 0; i < 50 && written !== 201; i++) {
      written = (await files('/v1/files/after.txt', { method: 'PUT', body: 'after' })).status;
      if (written !== 201) await new Promise((r) => setTimeout(r, 200));
    }
    expect(written).toBe(201);
    expect(await (await files('/v1/files/after.txt')).text()).toBe('after');
  });

  it('answers 503 LOCK_UNAVAILABLE to what needs a lock while Redis is down, keeps file writes going, and recovers without a restart', async () => {
    const files = api(node.url);
    expect((await files('/v1/files/redis/old.txt', { method: 'PUT', body: 'before' })).status).toBe(201);
    await redis.stop();
    // Directory creation, deletes and moves take the cluster lock: refused while its home is gone.
    for (const [path, init] of [
      ['/v1/files/redis/dir/', { method: 'POST' }],
      ['/v1/files/redis/old.txt', { method: 'DELETE' }],
      ['/v1/files/redis/old.txt', { method: 'PATCH', body: JSON.stringify({ name: 'moved.txt' }) }],
    ] as const) {
      const down = await files(path, init);
      expect(down.status, `${init.method} ${path}`).toBe(503);
      expect((await down.json()).code).toBe('LOCK_UNAVAILABLE');
    }
    expect((await files('/v1/files/redis/dir/')).status).toBe(404);
    expect(await (await files('/v1/files/redis/old.txt')).text()).toBe('before');
    // A file write commits in one metadata call without a lock: Redis is not in its path.
    expect((await files('/v1/files/redis.txt', { method: 'PUT', body: 'during' })).status).toBe(201);
    await redis.start();
    let status = 0;
    for (let i = 0; i < 50 && status !== 201; i++) {
      status = (await files('/v1/files/redis/dir/', { method: 'POST' })).status;
      if (status !== 201) await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(201);
    expect((await files('/v1/files/redis/old.txt', { method: 'DELETE' })).status).toBe(204);
    expect(await (await files('/v1/files/redis.txt')).text()).toBe('during');
  });
});

describe('disk full', () => {
  let mountPoint: string;
  let mounted = false;
  let node: TestNode;
  let db: pg.Client;

  beforeAll(async () => {
    mountPoint = mkdtempSync(join(tmpdir(), 'callfs-tiny-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint], { stdio: 'ignore' });
      mounted = true;
    } catch {
      console.warn('disk-full test skipped: cannot mount a tmpfs here (needs root)');
      return;
    }
    const dsn = await createTestDatabase(inject('pgAdminUrl'));
    node = await startTestNode({ dsn, localRoot: mountPoint });
    db = new pg.Client({ connectionString: dsn });
    await db.connect();
  });

  afterAll(async () => {
    if (!mounted) return;
    await db.end();
    await node.close();
    execFileSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('answers 507 INSUFFICIENT_STORAGE, keeps existing files and writes no row or temp file', async (context) => {
    if (!mounted) return context.skip();
    const files = api(node.url);
    expect((await files('/v1/files/keep.txt', { method: 'PUT', body: 'precious' })).status).toBe(201);
    const big = Buffer.alloc(4 * 1024 * 1024, 7);
    const full = await files('/v1/files/big.bin', { method: 'PUT', body: big });
    expect(full.status).toBe(507);
    expect((await full.json()).code).toBe('INSUFFICIENT_STORAGE');
    expect((await db.query("SELECT 1 FROM inodes WHERE path = '/big.bin'")).rowCount).toBe(0);
    // Only the store's own data: the cluster marker and the one blob keep.txt's row names, no partial blob.
    expect(readdirSync(mountPoint)).toEqual(['.callfs']);
    expect(readdirSync(join(mountPoint, '.callfs')).sort()).toEqual(['blobs', 'cluster.json']);
    const kept = await storedFile(db, mountPoint, '/keep.txt');
    expect(storedBlobKeys(mountPoint).map((key) => join(mountPoint, key))).toEqual([kept]);
    expect(readFileSync(kept, 'utf8')).toBe('precious');
    const replace = await files('/v1/files/keep.txt', { method: 'PUT', body: big });
    expect(replace.status).toBe(507);
    expect(await (await files('/v1/files/keep.txt')).text()).toBe('precious');
    expect(storedBlobKeys(mountPoint).map((key) => join(mountPoint, key))).toEqual([kept]);
    expect((await db.query("SELECT size FROM inodes WHERE path = '/keep.txt'")).rows[0]).toEqual({ size: '8' });
  });
});
