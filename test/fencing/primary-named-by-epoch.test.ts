/**
 * A node whose `metadata_store.dsn` names only the old primary (a region deployed before the
 * failover) still finds the new one: the failover records the new primary's address on the epoch
 * row, the node's read replica (re-pointed at the new primary) has that row, and the node adds
 * the address to the hosts it searches. The replica is real: a streaming standby of the test's
 * own primary, promoted here as a failover drill would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, queryOnce, startPostgres, startStandby, type PostgresServer, type StandbyServer } from '../../scripts/local-services/postgres.js';
import { api, call, startTestNode, type TestNode } from '../support/test-node.js';
import { eventually } from '../support/wait.js';

describe('a node whose DSN does not list the new primary', () => {
  let primary: PostgresServer;
  let standby: StandbyServer;
  let oldDsn = '';
  let newDsn = '';
  let node: TestNode | undefined;

  beforeAll(async () => {
    primary = await startPostgres();
    oldDsn = await createTestDatabase(primary.adminUrl);
    standby = await startStandby(primary);
    newDsn = oldDsn.replace(`:${primary.port}/`, `:${standby.port}/`);
    const database = oldDsn.slice(oldDsn.lastIndexOf('/') + 1);
    await eventually(() => queryOnce(standby.adminUrl, `SELECT 1 FROM pg_database WHERE datname = '${database}'`), (rows) => rows.length === 1, 10_000, 50);
    node = await startTestNode({ dsn: oldDsn, readDsn: newDsn });
  }, 120_000);

  afterAll(async () => {
    await node?.close();
    await Promise.allSettled([standby?.destroy(), primary?.destroy()]);
  });

  it('finds the primary the epoch row names, through its replica, and writes there', async () => {
    if (node === undefined) throw new Error('setup failed');
    const files = api(node.url);
    expect((await files('/v1/files/before.txt', { method: 'PUT', body: 'old' })).status).toBe(201);
    // No address is recorded until a failover writes one.
    expect(await queryOnce(oldDsn, 'SELECT primary_host FROM callfs_epoch')).toEqual([{ primary_host: null }]);

    // The drill: fence the old primary, promote the replica, record the new epoch and address.
    await queryOnce(oldDsn, 'UPDATE callfs_epoch SET fenced = true');
    await queryOnce(primary.adminUrl, 'ALTER SYSTEM SET default_transaction_read_only = on');
    await queryOnce(primary.adminUrl, 'SELECT pg_reload_conf()');
    await queryOnce(primary.adminUrl, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()");
    await standby.promote();
    await queryOnce(newDsn, `UPDATE callfs_epoch SET epoch = 1, fenced = false, primary_host = '127.0.0.1:${standby.port}'`);

    // The first write after the promotion is refused (503) while the node still looks for the
    // primary, or, when the failed session already made it look, lands on the new primary; it
    // never lands on the fenced one (checked below).
    const during = await files('/v1/files/during.txt', { method: 'PUT', body: 'x' });
    expect([201, 503]).toContain(during.status);
    if (during.status === 201) expect(await queryOnce(newDsn, "SELECT path FROM inodes WHERE path = '/during.txt'")).toHaveLength(1);

    const accepted = await eventually(
      () => files('/v1/files/after.txt', { method: 'PUT', body: 'new primary' }),
      (res) => res.status === 201,
      15_000,
      250,
    );
    expect(accepted.status).toBe(201);
    expect(await queryOnce(newDsn, "SELECT path FROM inodes WHERE path = '/after.txt'")).toHaveLength(1);
    expect(await queryOnce(oldDsn, "SELECT path FROM inodes WHERE path = '/after.txt'")).toHaveLength(0);
    expect(await queryOnce(oldDsn, "SELECT path FROM inodes WHERE path = '/during.txt'")).toHaveLength(0);
    const ready = await eventually(() => call(`${node?.url ?? ''}/ready`), (res) => res.status === 200, 5000);
    expect(ready.status).toBe(200);
  }, 60_000);
});
