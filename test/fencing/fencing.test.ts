/**
 * The fencing epoch of region failovers, seen from outside a running node: a fenced metadata
 * primary refuses every write with 503 FENCED (and the node withdraws from /ready) while reads go
 * on; a lock from a lock home of another epoch cannot commit; the node follows the epoch row's
 * lock home to another Redis without a restart. Postgres database and both Redis servers are
 * private to this file (the epoch key would disturb other files sharing a Redis).
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_LOCK_KEY_PREFIX } from '../../app/fencing/index.js';
import { createTestDatabase } from '../../scripts/local-services/postgres.js';
import { startRedis, type RedisServer } from '../../scripts/local-services/redis.js';
import { api, call, startTestNode, type TestNode } from '../support/test-node.js';
import { eventually } from '../support/wait.js';

/** The nodes' lock keys (app/fencing): the lock home's epoch and fence are `<PREFIX>epoch` / `<PREFIX>fence`. */
const PREFIX = DEFAULT_LOCK_KEY_PREFIX;

interface InodeRow {
  path: string;
  size: string;
  version: string;
  fence: string;
}

describe('fencing epoch on a running node', () => {
  let homeA: RedisServer;
  let homeB: RedisServer;
  let redisA: Redis;
  let redisB: Redis;
  let db: pg.Client;
  let node: TestNode;

  beforeAll(async () => {
    [homeA, homeB] = await Promise.all([startRedis(), startRedis()]);
    redisA = new Redis(homeA.url);
    redisB = new Redis(homeB.url);
    const dsn = await createTestDatabase(inject('pgAdminUrl'));
    node = await startTestNode({ dsn, redisUrl: homeA.url });
    db = new pg.Client({ connectionString: dsn });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await node?.close();
    redisA?.disconnect();
    redisB?.disconnect();
    await Promise.all([homeA?.stop(), homeB?.stop()]);
  });

  const files = () => api(node.url);
  const inodes = async (): Promise<InodeRow[]> => (await db.query<InodeRow>('SELECT path, size, version, fence FROM inodes ORDER BY path')).rows;
  const health = async (): Promise<{ status: string; epoch: number | null; lock_home: string | null }> => (await call(`${node.url}/health?details`)).json();

  it('refuses every write on a fenced primary with 503 FENCED, keeps serving reads, and leaves /ready', async () => {
    const f = files();
    expect((await f('/v1/files/fenced/a.txt', { method: 'PUT', body: 'before' })).status).toBe(201);
    expect((await f('/v1/files/fenced/dir/', { method: 'POST' })).status).toBe(201);
    expect((await call(`${node.url}/ready`)).status).toBe(200);
    const before = await inodes();

    await db.query('UPDATE callfs_epoch SET fenced = true');
    try {
      await expectFencedWrites(before);
    } finally {
      await db.query('UPDATE callfs_epoch SET fenced = false');
    }
    expect((await call(`${node.url}/ready`)).status).toBe(200);
    expect((await f('/v1/files/fenced/a.txt', { method: 'PUT', body: 'after' })).status).toBe(200);
  });

  async function expectFencedWrites(before: InodeRow[]): Promise<void> {
    const f = files();
    const attempts = [
      await f('/v1/files/fenced/a.txt', { method: 'PUT', body: 'replaced' }),
      await f('/v1/files/fenced/new.txt', { method: 'POST', body: 'new' }),
      await f('/v1/files/fenced/newdir/', { method: 'POST' }),
      await f('/v1/files/fenced/deep/er/file.txt', { method: 'PUT', body: 'with parents' }),
      await f('/v1/files/fenced/a.txt', { method: 'DELETE' }),
      await f('/v1/files/fenced/a.txt', { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ destination: '/fenced/moved.txt' }) }),
      await f('/v1/files/fenced/dir', { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'renamed' }) }),
    ];
    for (const res of attempts) {
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(res.headers.get('connection')).toBe('close');
      const body = await res.json();
      expect(body.code).toBe('FENCED');
      expect(body.message).toMatch(/fenced by a failover/);
    }
    const read = await f('/v1/files/fenced/a.txt');
    expect(read.status).toBe(200);
    expect(await read.text()).toBe('before');
    expect((await f('/v1/directories/fenced')).status).toBe(200);
    const ready = await call(`${node.url}/ready`);
    expect(ready.status).toBe(503);
    expect((await ready.json()).checks.fencing).toBe('FENCED');
    expect(await inodes()).toEqual(before);
  }

  it('refuses a lock of epoch 1 in a database at epoch 2, and writes again once the lock home is at 2', async () => {
    // File writes take no lock (their commit checks the node's own epoch); what the lock home's
    // epoch guards are the writes that still lock: directories, moves and deletes.
    const f = files();
    expect((await f('/v1/files/epoch.txt', { method: 'PUT', body: 'one' })).status).toBe(201);
    expect((await health()).epoch).toBe(1);
    const before = await inodes();

    await db.query("UPDATE callfs_epoch SET epoch = 2, primary_region = 'second'");
    const refused = await f('/v1/files/epoch.txt', { method: 'DELETE' });
    expect(refused.status).toBe(503);
    expect((await refused.json()).code).toBe('FENCED');
    expect((await f('/v1/files/epoch-dir/', { method: 'POST' })).status).toBe(503);
    expect((await f('/v1/files/epoch.txt', { method: 'PATCH', body: JSON.stringify({ name: 'moved.txt' }) })).status).toBe(503);
    expect(await inodes()).toEqual(before);

    await redisA.set(`${PREFIX}epoch`, '2');
    expect((await f('/v1/files/epoch-dir/', { method: 'POST' })).status).toBe(201);
    expect((await f('/v1/files/epoch.txt', { method: 'PATCH', body: JSON.stringify({ name: 'moved.txt' }) })).status).toBe(200);
    expect(await (await f('/v1/files/moved.txt')).text()).toBe('one');
    expect((await f('/v1/files/moved.txt', { method: 'DELETE' })).status).toBe(204);
    const seen = await eventually(health, (h) => h.epoch === 2, 5000);
    expect(seen).toMatchObject({ status: 'ok', epoch: 2, lock_home: `127.0.0.1:${homeA.port}` });
    const metrics = await (await f('/metrics')).text();
    expect(metrics).toMatch(/^callfs_fencing_epoch 2$/m);
  });

  it('moves its locks to the lock home named on the epoch row, without a restart', async () => {
    const f = files();
    const epoch = (await db.query<{ epoch: string }>('SELECT epoch FROM callfs_epoch')).rows[0]?.epoch ?? '1';
    await redisB.set(`${PREFIX}epoch`, epoch);
    const fenceOnA = await redisA.get(`${PREFIX}fence`);
    const addressB = `127.0.0.1:${homeB.port}`;

    await db.query('UPDATE callfs_epoch SET lock_home = $1', [addressB]);
    const moved = await eventually(health, (h) => h.lock_home === addressB, 5000);
    expect(moved.lock_home).toBe(addressB);

    // A directory is created under a lock: its fence comes from B now.
    expect((await f('/v1/files/relocated/', { method: 'POST' })).status).toBe(201);
    const fenceOnB = await redisB.get(`${PREFIX}fence`);
    expect(fenceOnB).not.toBeNull();
    expect(await redisA.get(`${PREFIX}fence`)).toBe(fenceOnA);
    const row = (await inodes()).find((r) => r.path === '/relocated');
    expect(row?.fence).toBe(fenceOnB);

    // A lock held on B excludes writers that take it from B (a delete locks; A knows nothing of it).
    expect((await f('/v1/files/relocated/x.txt', { method: 'PUT', body: 'on B' })).status).toBe(201);
    await redisB.set(`${PREFIX}/relocated/x.txt`, 'someone-else', 'PX', 1500);
    const started = Date.now();
    const waited = await f('/v1/files/relocated/x.txt', { method: 'DELETE' });
    expect(waited.status).toBe(204);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);

    // Back to the configured lock home.
    await db.query('UPDATE callfs_epoch SET lock_home = NULL');
    await eventually(health, (h) => h.lock_home === `127.0.0.1:${homeA.port}`, 5000);
    expect((await f('/v1/files/relocated/again/', { method: 'POST' })).status).toBe(201);
    expect(await redisA.get(`${PREFIX}fence`)).not.toBe(fenceOnA);
  });
});
