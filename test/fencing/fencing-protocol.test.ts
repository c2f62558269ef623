/**
 * The fencing protocol (app/fencing) as each of its parties runs it, against a real Postgres and
 * Redis: the node (PostgresMetadataStore, RedisLockManager), the local drill provider (the same
 * statements rendered for `psql -c`, the arm script through `redis-cli EVAL`, exactly as it runs
 * them inside a rehearsal region) and the AWS drill provider (statements with bound values over
 * `pg`, the arm script over ioredis). What one party writes, every other one reads the same way.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRedisLockManager } from '../../app/adapters/locks/redis.js';
import { createPostgresMetadataStore, type PostgresMetadataStore } from '../../app/adapters/metadata/postgres.js';
import type { NewEntry } from '../../app/domain/entry.js';
import {
  armLockHomeCall,
  epochRecordFromCells,
  epochRecordFromRow,
  evalArguments,
  inlineReadWriteTransaction,
  lockHomeKeys,
  MARK_FENCED,
  parseLsn,
  READ_EPOCH_RECORD,
  READ_FENCED,
  writeEpochStatement,
  type EpochRecord,
  type SqlStatement,
} from '../../app/fencing/index.js';
import { createTestDatabase } from '../../scripts/local-services/postgres.js';

const run = promisify(execFile);

const file = (path: string): NewEntry => ({ path, type: 'file', size: 1, owner: 'u1', backendType: 'localfs', instanceId: 'n1', originInstanceId: 'n1' });

/** What the local drill provider does with a statement: `psql -X -q -A -t -F '|' -c`, rows of text cells. */
async function psql(dsn: string, text: string): Promise<string[][]> {
  const { stdout } = await run('psql', ['-X', '-q', '-A', '-t', '-F', '|', '-d', dsn, '-c', text], { timeout: 15_000 });
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('|'));
}

/** What the AWS drill provider does with a statement: bound values in a READ WRITE transaction. */
async function inTransaction(db: pg.Client, statement: SqlStatement): Promise<void> {
  await db.query('BEGIN TRANSACTION READ WRITE');
  await db.query(statement.text, [...statement.values]);
  await db.query('COMMIT');
}

describe('the fencing protocol, shared by the node and both drill providers', () => {
  let dsn: string;
  let db: pg.Client;
  let store: PostgresMetadataStore;
  let redis: Redis;
  let redisHost: string;
  let redisPort: string;
  const prefix = `fencing-protocol:${process.pid}:`;

  beforeAll(async () => {
    dsn = await createTestDatabase(inject('pgAdminUrl'));
    store = await createPostgresMetadataStore({ dsn });
    db = new pg.Client({ connectionString: dsn });
    await db.connect();
    redis = new Redis(inject('redisUrl'));
    const address = new URL(inject('redisUrl'));
    [redisHost, redisPort] = [address.hostname, address.port];
  });

  afterAll(async () => {
    await db?.end();
    await store?.close();
    redis?.disconnect();
  });

  const readByPsql = async (): Promise<EpochRecord> => {
    const [row] = await psql(dsn, READ_EPOCH_RECORD);
    if (row === undefined) throw new Error('no epoch row');
    return epochRecordFromCells(row);
  };
  const readByPg = async (): Promise<EpochRecord> => {
    const { rows } = await db.query<Record<string, unknown>>(READ_EPOCH_RECORD);
    if (rows[0] === undefined) throw new Error('no epoch row');
    return epochRecordFromRow(rows[0]);
  };

  it('reads the migrated row the same way through psql, through pg and from the node', async () => {
    await store.createEntry(file('/p/a.txt'), { token: 77, epoch: 1 });
    const expected: EpochRecord = { epoch: 1, fenced: false, primaryRegion: null, lockHome: null, primaryHost: null, maxFence: 77 };
    expect(await readByPsql()).toEqual(expected);
    expect(await readByPg()).toEqual(expected);
    expect(await store.readEpoch()).toEqual({ epoch: 1, fenced: false, readOnly: false, primaryRegion: null, lockHome: null, primaryHost: null });
  });

  it('a new epoch written through psql (values quoted by the module) binds the node: its writes need that epoch', async () => {
    const record: EpochRecord = { epoch: 4, fenced: false, primaryRegion: "o'brien-1", lockHome: `${redisHost}:${redisPort}` };
    await psql(dsn, inlineReadWriteTransaction([writeEpochStatement(record, '10.251.1.1:5432')], { synchronous_commit: 'local', lock_timeout: '2s' }));
    expect(await readByPg()).toMatchObject({ ...record, primaryHost: '10.251.1.1:5432' });
    expect(await store.readEpoch()).toMatchObject({ epoch: 4, primaryRegion: "o'brien-1", lockHome: `${redisHost}:${redisPort}`, primaryHost: '10.251.1.1:5432' });

    await expect(store.createEntry(file('/p/old-epoch.txt'), { token: 78, epoch: 1 })).rejects.toMatchObject({ code: 'FENCED' });
    expect(await store.getEntry('/p/old-epoch.txt')).toBeNull();
    await store.createEntry(file('/p/new-epoch.txt'), { token: 79, epoch: 4 });
    expect(await store.getEntry('/p/new-epoch.txt')).toMatchObject({ path: '/p/new-epoch.txt' });
  });

  it('the same epoch written through pg with bound values reads back identically through psql', async () => {
    const record: EpochRecord = { epoch: 5, fenced: false, primaryRegion: 'eu-1', lockHome: null };
    await inTransaction(db, writeEpochStatement(record, 'db.eu-1.internal:5432'));
    expect(await readByPsql()).toEqual({ ...record, primaryHost: 'db.eu-1.internal:5432', maxFence: 79 });
  });

  it('a fence marked by either provider refuses every write of every epoch, and the locator sees it', async () => {
    for (const mark of [() => psql(dsn, inlineReadWriteTransaction([MARK_FENCED])), () => inTransaction(db, MARK_FENCED)]) {
      await mark();
      expect(await readByPsql()).toMatchObject({ fenced: true });
      expect((await db.query<{ fenced: boolean }>(READ_FENCED)).rows).toEqual([{ fenced: true }]);
      expect(await store.readEpoch()).toMatchObject({ fenced: true });
      await expect(store.createEntry(file('/p/fenced.txt'), { token: 90, epoch: 5 })).rejects.toMatchObject({ code: 'FENCED' });
      await expect(store.deleteEntry('/p/new-epoch.txt', { token: 90, epoch: null })).rejects.toMatchObject({ code: 'FENCED' });
      await inTransaction(db, writeEpochStatement({ epoch: 5, fenced: false, primaryRegion: 'eu-1', lockHome: null }, 'db.eu-1.internal:5432'));
    }
    expect(await store.getEntry('/p/fenced.txt')).toBeNull();
    expect(await store.getEntry('/p/new-epoch.txt')).not.toBeNull();
  });

  it('a lock home armed through redis-cli or ioredis grants under its epoch, above the floor, and never lowers the counter', async () => {
    const locks = await createRedisLockManager({ addr: `${redisHost}:${redisPort}`, keyPrefix: prefix });
    try {
      const floor = (Date.now() + 86_400_000) * 1000;
      const { stdout } = await run('redis-cli', ['-h', redisHost, '-p', redisPort, '--no-raw', 'EVAL', ...evalArguments(armLockHomeCall(prefix, 6, floor))], { timeout: 10_000 });
      expect(stdout.trim().replace(/"/g, '')).toBe(String(floor));
      const first = await locks.acquire(['/p/a.txt'], { waitMs: 1000 });
      expect({ epoch: first.epoch, fence: first.fence }).toEqual({ epoch: 6, fence: floor + 1 });
      await first.release();

      const lower = armLockHomeCall(prefix, 7, 5);
      expect(Number(await redis.eval(lower.script, lower.keys.length, ...lower.keys, ...lower.args))).toBe(floor + 1);
      const keys = lockHomeKeys(prefix);
      expect(await redis.mget(keys.epoch, keys.fence)).toEqual(['7', String(floor + 1)]);
      const second = await locks.acquire(['/p/a.txt'], { waitMs: 1000 });
      expect({ epoch: second.epoch, fence: second.fence }).toEqual({ epoch: 7, fence: floor + 2 });
      await second.release();
    } finally {
      await locks.close();
      await redis.del(...Object.values(lockHomeKeys(prefix)));
    }
  });

  it('parses the positions the server reports, in order', async () => {
    const before = (await psql(dsn, 'select pg_current_wal_lsn()'))[0]?.[0] ?? '';
    await store.createEntry(file('/p/lsn.txt'), { token: 91, epoch: 5 });
    const after = await store.currentLsn();
    const [from, to] = [parseLsn(before), parseLsn(after)];
    expect(from).not.toBeNull();
    expect(to).not.toBeNull();
    expect((to ?? 0n) > (from ?? 0n)).toBe(true);
  });
});
