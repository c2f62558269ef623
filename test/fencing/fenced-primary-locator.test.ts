/**
 * Two writable primaries after a region failover, as a multi-host DSN sees them: the old one is
 * fenced (epoch row) and made read-only the way the drill does it (ALTER SYSTEM
 * default_transaction_read_only), the new one is writable. The locator reports the old one as
 * read-only and a running node moves its writes to the new one without a restart. Both Postgres
 * servers are private to this file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresMetadataStore } from '../../app/adapters/metadata/postgres.js';
import { parseMultiHostDsn } from '../../app/adapters/metadata/multi-host-dsn.js';
import { locatePrimary } from '../../app/adapters/metadata/primary-locator.js';
import { createTestDatabase, queryOnce, startPostgres, type PostgresServer } from '../../scripts/local-services/postgres.js';
import { api, call, startTestNode, type TestNode } from '../support/test-node.js';
import { eventually } from '../support/wait.js';

describe('a fenced, read-only former primary in a multi-host DSN', () => {
  let oldPrimary: PostgresServer;
  let newPrimary: PostgresServer;
  let oldDsn = '';
  let newDsn = '';
  let multiHostDsn = '';
  let node: TestNode | undefined;

  beforeAll(async () => {
    [oldPrimary, newPrimary] = await Promise.all([startPostgres(), startPostgres()]);
    oldDsn = await createTestDatabase(oldPrimary.adminUrl);
    const database = oldDsn.slice(oldDsn.lastIndexOf('/') + 1);
    await queryOnce(newPrimary.adminUrl, `CREATE DATABASE ${database}`);
    newDsn = newPrimary.adminUrl.replace(/\/postgres$/, `/${database}`);
    // The promoted replica has the schema (it streamed it); here it is migrated directly.
    await (await createPostgresMetadataStore({ dsn: newDsn })).close();
    multiHostDsn = `postgres://postgres@127.0.0.1:${oldPrimary.port},127.0.0.1:${newPrimary.port}/${database}?target_session_attrs=read-write`;
    node = await startTestNode({ dsn: multiHostDsn });
  }, 120_000);

  afterAll(async () => {
    await node?.close();
    await Promise.allSettled([oldPrimary?.destroy(), newPrimary?.destroy()]);
  });

  it('skips the read-only host, and the node follows the writable one', async () => {
    if (node === undefined) throw new Error('setup failed');
    const files = api(node.url);
    expect((await files('/v1/files/before.txt', { method: 'PUT', body: 'old primary' })).status).toBe(201);
    expect(await queryOnce(oldDsn, "SELECT path FROM inodes WHERE path = '/before.txt'")).toHaveLength(1);

    // The drill's fence: the epoch row, then read-only for every session.
    await queryOnce(oldDsn, 'UPDATE callfs_epoch SET fenced = true');
    await queryOnce(oldPrimary.adminUrl, 'ALTER SYSTEM SET default_transaction_read_only = on');
    await queryOnce(oldPrimary.adminUrl, 'SELECT pg_reload_conf()');
    await queryOnce(newDsn, "UPDATE callfs_epoch SET epoch = 1, primary_region = 'new'");

    const location = await locatePrimary(parseMultiHostDsn(multiHostDsn), { connectTimeoutMs: 2000, queryTimeoutMs: 2000 });
    expect(location.primary?.label).toBe(`127.0.0.1:${newPrimary.port}`);
    expect(location.summary).toContain(`127.0.0.1:${oldPrimary.port} read-only`);

    // The first write may still reach the old primary and be refused (503); writes then go to the new one.
    const accepted = await eventually(
      () => files('/v1/files/after.txt', { method: 'PUT', body: 'new primary' }),
      (res) => res.status === 201,
      10_000,
      200,
    );
    expect(accepted.status).toBe(201);
    expect(await queryOnce(newDsn, "SELECT path FROM inodes WHERE path = '/after.txt'")).toHaveLength(1);
    expect(await queryOnce(oldDsn, "SELECT path FROM inodes WHERE path = '/after.txt'")).toHaveLength(0);
    const ready = await eventually(() => call(`${node?.url ?? ''}/ready`), (res) => res.status === 200, 5000);
    expect(ready.status).toBe(200);
  });

  it('reports a writable host whose epoch row is fenced as fenced, not primary', async () => {
    await queryOnce(newDsn, 'UPDATE callfs_epoch SET fenced = true');
    try {
      const location = await locatePrimary(parseMultiHostDsn(multiHostDsn), { connectTimeoutMs: 2000, queryTimeoutMs: 2000 });
      expect(location.primary).toBeNull();
      expect(location.summary).toBe(`127.0.0.1:${oldPrimary.port} read-only, 127.0.0.1:${newPrimary.port} fenced`);
      if (node === undefined) throw new Error('setup failed');
      const ready = await call(`${node.url}/ready`);
      expect(ready.status).toBe(503);
    } finally {
      await queryOnce(newDsn, 'UPDATE callfs_epoch SET fenced = false');
    }
  });
});
