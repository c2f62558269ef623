/**
 * Starts one real Postgres, one real Redis and one real S3-compatible server on free loopback
 * ports for the whole test run, hands their addresses to the tests through `inject()`, and stops
 * exactly those processes afterwards. Each test file isolates itself (own database, own Redis
 * key prefix, own bucket).
 */
import type { TestProject } from 'vitest/node';
import { startPostgres } from '../../scripts/local-services/postgres.js';
import { startRedis } from '../../scripts/local-services/redis.js';
import { startS3 } from '../../scripts/local-services/s3.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin DSN of the test Postgres (database `postgres`, superuser). */
    pgAdminUrl: string;
    /** Directory holding the Postgres binaries used for the test server (initdb, pg_ctl, ...). */
    pgBinDir: string;
    /** `redis://127.0.0.1:PORT` */
    redisUrl: string;
    s3: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [pg, redis, s3] = await Promise.all([startPostgres(), startRedis(), startS3()]);
  project.provide('pgAdminUrl', pg.adminUrl);
  project.provide('pgBinDir', pg.binDir);
  project.provide('redisUrl', redis.url);
  project.provide('s3', { endpoint: s3.endpoint, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
  return async () => {
    await Promise.allSettled([pg.destroy(), redis.stop(), s3.stop()]);
  };
}
