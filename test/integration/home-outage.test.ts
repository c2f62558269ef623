/**
 * A node of a far region when its home region is out: the node reads metadata from its own
 * streaming replica (`metadata_store.read_dsn`) and the primary stops answering. Readiness is per
 * role (the read side stays ready for DNS health checks, the write side is not), writes are
 * refused at once with WRITES_UNAVAILABLE and Retry-After, reads keep working, a read whose token
 * the replica has not reached answers REPLICA_BEHIND (never a stale 404), and everything comes
 * back when the primary does. Also: heartbeats are not written to a fenced primary.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EPOCH_TABLE, MARK_FENCED } from '../../app/fencing/index.js';
import { createTestDatabase, queryOnce, startPostgres, startStandby, type PostgresServer, type StandbyServer } from '../../scripts/local-services/postgres.js';
import { api, call, startTestNode, type TestNode } from '../support/test-node.js';
import { eventually } from '../support/wait.js';

let primary: PostgresServer;
let standby: StandbyServer;
let node: TestNode;
let dsn: string;

beforeAll(async () => {
  primary = await startPostgres();
  dsn = await createTestDatabase(primary.adminUrl);
  standby = await startStandby(primary);
  const readDsn = dsn.replace(`:${primary.port}/`, `:${standby.port}/`);
  const standbyAdmin = new pg.Client({ connectionString: standby.adminUrl });
  await standbyAdmin.connect();
  const name = dsn.slice(dsn.lastIndexOf('/') + 1);
  await eventually(async () => (await standbyAdmin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount, (n) => n === 1);
  await standbyAdmin.end();
  node = await startTestNode({ dsn, readDsn, readYourWritesWaitMs: 300 });
}, 60_000);

afterAll(async () => {
  await node?.close();
  await standby?.destroy();
  await primary?.destroy();
});

const readiness = async (path: string): Promise<{ status: number; body: { status: string; role?: string; checks: Record<string, string> } }> => {
  const res = await call(`${node.url}${path}`);
  return { status: res.status, body: (await res.json()) as { status: string; role?: string; checks: Record<string, string> } };
};

describe('readiness per role', () => {
  it('with every dependency up, /ready, /ready/read and /ready/write answer 200 and name their checks', async () => {
    const all = await readiness('/ready');
    expect(all.status).toBe(200);
    expect(all.body.role).toBeUndefined();
    const read = await readiness('/ready/read');
    expect(read).toMatchObject({ status: 200, body: { status: 'ok', role: 'read' } });
    expect(Object.keys(read.body.checks).sort()).toEqual(['localfs', 'replica']);
    const write = await readiness('/ready/write');
    expect(write).toMatchObject({ status: 200, body: { status: 'ok', role: 'write' } });
    expect(Object.keys(write.body.checks).sort()).toEqual(['fencing', 'localfs', 'locks', 'metadata']);
  });
});

describe('heartbeats and a fenced primary', () => {
  it('a node does not write its heartbeat to a fenced primary, and resumes once unfenced', async () => {
    const lastSeen = async (): Promise<string> => (await queryOnce<{ t: string }>(dsn, "SELECT last_seen::text AS t FROM cluster_members WHERE instance_id = 'node1'"))[0]?.t ?? '';
    await queryOnce(dsn, MARK_FENCED.text);
    try {
      // One heartbeat may be under way when the row changes; after that none lands.
      await new Promise((r) => setTimeout(r, 2500));
      const paused = await lastSeen();
      await new Promise((r) => setTimeout(r, 2500));
      expect(await lastSeen()).toBe(paused);
    } finally {
      await queryOnce(dsn, `UPDATE ${EPOCH_TABLE} SET fenced = false WHERE id = 1`);
    }
    const before = await lastSeen();
    await eventually(lastSeen, (seen) => seen !== before, 10_000);
    await eventually(async () => (await readiness('/ready/write')).status, (s) => s === 200, 10_000);
  }, 30_000);
});

describe('the home region is out (its primary does not answer)', () => {
  let token = '';
  beforeAll(async () => {
    const write = await api(node.url)('/v1/files/outage/before.txt', { method: 'PUT', body: 'written before the outage' });
    expect(write.status).toBe(201);
    token = write.headers.get('x-callfs-consistency-token') ?? '';
    // The replica has it before the home goes away.
    await eventually(async () => (await api(node.url)('/v1/files/outage/before.txt', { headers: { 'X-CallFS-Consistency-Token': token } })).headers.get('x-callfs-read-source'), (s) => s === 'replica');
    await primary.stop();
  }, 30_000);

  it('the node stays ready for reads and says it cannot take writes', async () => {
    const write = await eventually(() => readiness('/ready/write'), (r) => r.status === 503, 15_000);
    expect(write.body.checks['metadata']).not.toBe('ok');
    expect((await readiness('/ready')).status).toBe(503);
    const read = await readiness('/ready/read');
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    expect(read.body.checks['replica']).toBe('ok');
  }, 30_000);

  it('writes are refused at once with WRITES_UNAVAILABLE and Retry-After, and store nothing', async () => {
    const started = performance.now();
    const write = await api(node.url)('/v1/files/outage/during.txt', { method: 'PUT', body: 'must not land' });
    expect(write.status).toBe(503);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(((await write.json()) as { code: string }).code).toBe('WRITES_UNAVAILABLE');
    expect(Number(write.headers.get('retry-after'))).toBeGreaterThan(0);
    const post = await api(node.url)('/v1/files/outage/dir/', { method: 'POST' });
    expect(post.status).toBe(503);
    expect(node.rootPath).not.toBeNull();
    const { existsSync } = await import('node:fs');
    expect(existsSync(`${node.rootPath ?? ''}/outage/during.txt`)).toBe(false);
  });

  it('reads with and without the last token are served from the replica', async () => {
    const variants: Array<Record<string, string>> = [{}, { 'X-CallFS-Consistency-Token': token }];
    for (const headers of variants) {
      const read = await api(node.url)('/v1/files/outage/before.txt', { headers });
      expect(read.status).toBe(200);
      expect(await read.text()).toBe('written before the outage');
      expect(read.headers.get('x-callfs-read-source')).toBe('replica');
    }
    const list = await api(node.url)('/v1/directories/outage');
    expect(list.status).toBe(200);
  });

  it('a token newer than the replica waits, then answers 503 REPLICA_BEHIND with Retry-After, never 404', async () => {
    const ahead = 'FFFFFFF/0';
    for (const path of ['/v1/files/outage/before.txt', '/v1/files/outage/never-written.txt']) {
      const read = await api(node.url)(path, { headers: { 'X-CallFS-Consistency-Token': ahead } });
      expect(read.status).toBe(503);
      expect(((await read.json()) as { code: string }).code).toBe('REPLICA_BEHIND');
      expect(Number(read.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(Number(read.headers.get('x-callfs-consistency-wait-ms'))).toBeGreaterThanOrEqual(250);
    }
  });

  it('when the primary is back, writes are accepted again', async () => {
    await primary.start();
    const write = await eventually(
      () => api(node.url)('/v1/files/outage/after.txt', { method: 'PUT', body: 'after' }),
      (res) => res.status === 201,
      20_000,
      250,
    );
    expect(write.status).toBe(201);
    expect((await readiness('/ready/write')).status).toBe(200);
  }, 30_000);
});
