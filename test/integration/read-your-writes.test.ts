/**
 * A node reading metadata from a streaming replica (`metadata_store.read_dsn`): writes answer with
 * a consistency token; reads without a token come from the replica, stale by its lag and saying
 * so; a read with the token comes from the replica once it has replayed past the token, else from
 * the primary after a bounded wait. The replica here is real (pg_basebackup of the test's own
 * primary), and its replay is paused to make it lag on purpose.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, startPostgres, startStandby, type PostgresServer, type StandbyServer } from '../../scripts/local-services/postgres.js';
import { api, startTestNode, type TestNode } from '../support/test-node.js';

let primary: PostgresServer;
let standby: StandbyServer;
let node: TestNode;
let standbyAdmin: pg.Client;

beforeAll(async () => {
  primary = await startPostgres();
  const dsn = await createTestDatabase(primary.adminUrl);
  standby = await startStandby(primary);
  const readDsn = dsn.replace(`:${primary.port}/`, `:${standby.port}/`);
  // The database must have reached the standby before the node opens it.
  standbyAdmin = new pg.Client({ connectionString: standby.adminUrl });
  await standbyAdmin.connect();
  const name = dsn.slice(dsn.lastIndexOf('/') + 1);
  for (let i = 0; i < 100; i++) {
    const found = await standbyAdmin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 1) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  // Long enough for a loaded machine's replica to replay a fresh write; the lagging cases pause
  // replay, so they wait the whole bound.
  node = await startTestNode({ dsn, readDsn, readYourWritesWaitMs: 2000 });
}, 60_000);

afterAll(async () => {
  await node?.close();
  await standbyAdmin?.end();
  await standby?.destroy();
  await primary?.destroy();
});

describe('read-your-writes over a regional replica', () => {
  it('answers every write with a consistency token, as a header and a cookie', async () => {
    const res = await api(node.url)('/v1/files/ryw/first.txt', { method: 'PUT', body: 'first' });
    expect(res.status).toBe(201);
    const token = res.headers.get('x-callfs-consistency-token') ?? '';
    expect(token).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(res.headers.get('set-cookie')).toContain(`callfs_ct=${encodeURIComponent(token)}`);
  });

  it('serves a read with a token from the replica once it has replayed past it', async () => {
    const write = await api(node.url)('/v1/files/ryw/caught-up.txt', { method: 'PUT', body: 'replayed' });
    const token = write.headers.get('x-callfs-consistency-token') ?? '';
    const read = await api(node.url)('/v1/files/ryw/caught-up.txt', { headers: { 'X-CallFS-Consistency-Token': token } });
    expect(read.status).toBe(200);
    expect(await read.text()).toBe('replayed');
    expect(read.headers.get('x-callfs-read-source')).toBe('replica');
  });

  describe('while the replica lags', () => {
    let token: string;
    beforeAll(async () => {
      await standbyAdmin.query('SELECT pg_wal_replay_pause()');
      const write = await api(node.url)('/v1/files/ryw/lagging.txt', { method: 'PUT', body: 'not on the replica yet' });
      expect(write.status).toBe(201);
      token = write.headers.get('x-callfs-consistency-token') ?? '';
    });
    afterAll(async () => {
      await standbyAdmin.query('SELECT pg_wal_replay_resume()');
    });

    it('a read without a token is served by the replica, stale, and says how stale', async () => {
      // The lag shows once the paused replica has received WAL it has not replayed.
      let read = await api(node.url)('/v1/files/ryw/lagging.txt');
      for (let i = 0; i < 40 && Number(read.headers.get('x-callfs-replica-lag-ms')) === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        read = await api(node.url)('/v1/files/ryw/lagging.txt');
      }
      expect(read.status).toBe(404);
      expect(read.headers.get('x-callfs-read-source')).toBe('replica');
      expect(Number(read.headers.get('x-callfs-replica-lag-ms'))).toBeGreaterThan(0);
    });

    it('a read with the token waits its bound, then is served by the primary', async () => {
      const read = await api(node.url)('/v1/files/ryw/lagging.txt', { headers: { 'X-CallFS-Consistency-Token': token } });
      expect(read.status).toBe(200);
      expect(await read.text()).toBe('not on the replica yet');
      expect(read.headers.get('x-callfs-read-source')).toBe('primary');
      expect(Number(read.headers.get('x-callfs-consistency-wait-ms'))).toBeGreaterThanOrEqual(1900);
    });

    it('the cookie works like the header, for listings too', async () => {
      const list = await api(node.url)('/v1/directories/ryw', { headers: { Cookie: `other=1; callfs_ct=${encodeURIComponent(token)}` } });
      expect(list.status).toBe(200);
      expect(list.headers.get('x-callfs-read-source')).toBe('primary');
      expect(JSON.stringify(await list.json())).toContain('lagging.txt');
    });

    it('a malformed token is ignored (replica read), never an error', async () => {
      const read = await api(node.url)('/v1/files/ryw/first.txt', { headers: { 'X-CallFS-Consistency-Token': 'not-a-token' } });
      expect(read.status).toBe(200);
      expect(read.headers.get('x-callfs-read-source')).toBe('replica');
    });
  });

  it('after the replica catches up, the token read is served locally again', async () => {
    const write = await api(node.url)('/v1/files/ryw/after.txt', { method: 'PUT', body: 'after resume' });
    const token = write.headers.get('x-callfs-consistency-token') ?? '';
    const read = await api(node.url)('/v1/files/ryw/after.txt', { headers: { 'X-CallFS-Consistency-Token': token } });
    expect(read.status).toBe(200);
    expect(read.headers.get('x-callfs-read-source')).toBe('replica');
  });
});
