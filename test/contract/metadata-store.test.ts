import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../app/adapters/metadata/embedded-postgres.js';
import { createPostgresMetadataStore } from '../../app/adapters/metadata/postgres.js';
import { createTestDatabase } from '../../scripts/local-services/postgres.js';
import { freePort } from '../../scripts/local-services/processes.js';
import { describeMetadataStoreContract } from './metadata-store.contract.js';

/** A fresh database per store, unless the test asks for another store on the last one. */
function storesOn(dsnFor: () => Promise<string>) {
  let last: string | null = null;
  return async (sameDatabaseAsLast = false) => {
    if (!sameDatabaseAsLast || last === null) last = await dsnFor();
    return createPostgresMetadataStore({ dsn: last });
  };
}

describeMetadataStoreContract('Postgres (Debian server)', storesOn(() => createTestDatabase(inject('pgAdminUrl'))));

describe('embedded Postgres (npm distribution)', () => {
  let embedded: EmbeddedPostgresHandle;
  let dataDir: string;
  let counter = 0;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'callfs-embedded-'));
    // As root the server runs as "postgres", which must enter the (0700) temp dir to keep its data there.
    chmodSync(dataDir, 0o755);
    embedded = await startEmbeddedPostgres({ dataDir, port: await freePort() });
  }, 60_000);
  afterAll(async () => {
    await embedded.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  describeMetadataStoreContract(
    'embedded Postgres',
    storesOn(async () => {
      const name = `contract_${counter++}`;
      const admin = new pg.Client({ connectionString: embedded.dsn });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.end();
      return embedded.dsn.replace(/\/callfs$/, `/${name}`);
    }),
  );

  it('migrates once even when four nodes start together', async () => {
    const admin = new pg.Client({ connectionString: embedded.dsn });
    await admin.connect();
    await admin.query('CREATE DATABASE contract_race');
    await admin.end();
    const dsn = embedded.dsn.replace(/\/callfs$/, '/contract_race');
    const stores = await Promise.all(Array.from({ length: 4 }, () => createPostgresMetadataStore({ dsn })));
    expect(await stores[0]?.getEntry('/')).not.toBeNull();
    await Promise.all(stores.map((s) => s.close()));
  });
});
