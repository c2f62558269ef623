/**
 * A deployment of the regions of `regions/` for the AWS drill provider to drive, with no AWS
 * account: the AWS stand-in (scripts/aws-standin) for the control plane, and real servers for the
 * data plane the drill's SQL and Redis steps reach:
 *
 * - one real Postgres per region, TLS on with a certificate of a private CA (the test's "RDS CA
 *   bundle"): the home region's is the primary, the others stream from it; a replica the stand-in
 *   creates is a real new streaming replica, a promotion promotes it. The metadata schema is the
 *   node's migrations, owned by `postgres` (the administrative role); the nodes' role `callfs_app`
 *   has read and write privileges and owns nothing;
 * - one real Redis per region, with an AUTH token, as each region's lock cache;
 * - each region's drill SQL runner: RunTask runs `app/drill-sql/main.ts` (through tsx) as a local
 *   process with the task's environment, against that region's Postgres, the test's CA bundle
 *   standing in for the image's RDS bundle; the provider's default (`auto`) sends its SQL there;
 * - node tasks that report on `/health?details` the epoch of their region's database, and a
 *   `fetch` that serves the drill's probe writes as a region's nodes would: through the writable
 *   primary, as the nodes' role, only while the region has a ready node.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { MIGRATIONS } from '../../app/adapters/metadata/migrations.js';
import { DATABASE_NAME, SECRET_NAMES, databaseIdentifier } from '../../infra/config/names.js';
import { REGIONS } from '../../regions/index.js';
import { regionBucketName, type Region } from '../../regions/schema.js';
import { STANDIN_ACCOUNT, startAwsStandin, type AwsStandin } from '../../scripts/aws-standin/server.js';
import { FENCED_TAG } from '../../scripts/drill/aws/databases.js';
import { createIoredisLockHome } from '../../scripts/drill/aws/lock-home-redis.js';
import { createAwsProvider, type AwsProviderOptions } from '../../scripts/drill/aws/provider.js';
import type { DrillProvider } from '../../scripts/drill/provider.js';
import { startPostgres, startStandby, type PostgresServer, type StandbyServer } from '../../scripts/local-services/postgres.js';
import { freePort } from '../../scripts/local-services/processes.js';
import { startRedis, type RedisServer } from '../../scripts/local-services/redis.js';

export const APP_ROLE = 'callfs_app';
export const LOCK_TOKEN = 'lock-cache-auth-token-for-tests';
export const API_KEY = 'drill-probe-api-key-0123456789';
export const HOSTED_ZONE = 'Z0STANDINZONE';
export const GLOBAL_HOSTNAME = 'files.standin.test';

export interface AwsWorld {
  readonly standin: AwsStandin;
  readonly regions: readonly Region[];
  /** Every Postgres server started (old instances renamed aside included). */
  readonly servers: PostgresServer[];
  readonly redis: Readonly<Record<string, RedisServer>>;
  readonly caBundle: string;
  readonly log: string[];
  /** A provider over the real SDK clients pointed at the stand-in; `overrides` for a test's variations. */
  provider(overrides?: Partial<AwsProviderOptions>): DrillProvider;
  /** A statement on the region's current database (as `postgres`, without TLS: the test's own view). */
  query<R extends pg.QueryResultRow>(region: string, sql: string, values?: unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** A private CA and a server certificate for 127.0.0.1, written into `dataDir` (copied by base backups to every replica). */
function installTls(dataDir: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'callfs-rds-ca-'));
  const run = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  };
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=stand-in RDS CA');
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'san.ext');
  const ids = isRoot ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()) } : null;
  for (const [file, mode] of [['server.crt', 0o644], ['server.key', 0o600]] as const) {
    const target = join(dataDir, file);
    writeFileSync(target, readFileSync(join(dir, file)), { mode });
    if (ids !== null) chownSync(target, ids.uid, ids.gid);
  }
  const ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
  rmSync(dir, { recursive: true, force: true });
  return ca;
}

async function admin<T>(port: number, database: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database, connectionTimeoutMillis: 5000, query_timeout: 10_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function startAwsWorld(): Promise<AwsWorld> {
  const regions = REGIONS;
  const home = regions.find((r) => r.role === 'home') ?? regions[0];
  if (home === undefined) throw new Error('no regions');
  const ordered = [home, ...regions.filter((r) => r !== home)];
  const servers: PostgresServer[] = [];
  const redis: Record<string, RedisServer> = {};
  const log: string[] = [];
  try {
    // The primary: TLS, the schema as the node migrates it, owned by the administrative role.
    const primary = await startPostgres();
    servers.push(primary);
    const caBundle = installTls(primary.dataDir);
    await admin(primary.port, 'postgres', async (c) => {
      await c.query("ALTER SYSTEM SET ssl = 'on'");
      await c.query("ALTER SYSTEM SET ssl_cert_file = 'server.crt'");
      await c.query("ALTER SYSTEM SET ssl_key_file = 'server.key'");
      await c.query('SELECT pg_reload_conf()');
      await c.query(`CREATE DATABASE ${DATABASE_NAME}`);
      await c.query(`CREATE ROLE ${APP_ROLE} LOGIN`);
    });
    await admin(primary.port, DATABASE_NAME, async (c) => {
      for (const migration of MIGRATIONS) await c.query(migration.sql);
      await c.query('CREATE TABLE drill_probe (path text PRIMARY KEY, body text NOT NULL)');
      await c.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${APP_ROLE}`);
      await c.query(`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO ${APP_ROLE}`);
    });
    const byHandle = new Map<unknown, PostgresServer>();
    byHandle.set(primary, primary);
    const initial = new Map<string, PostgresServer>([[home.name, primary]]);
    for (const region of ordered.slice(1)) {
      const standby = await startStandby(primary);
      servers.push(standby);
      initial.set(region.name, standby);
    }
    for (const region of ordered) {
      const server = await startRedis();
      redis[region.name] = server;
      const client = new Redis({ port: server.port, host: '127.0.0.1', lazyConnect: true });
      await client.connect();
      await client.config('SET', 'requirepass', LOCK_TOKEN);
      client.disconnect();
    }

    // The node tasks' health reads the stand-in's own state, which exists once it has started.
    const started: { standin?: AwsStandin } = {};
    const currentPort = (region: Region): number | undefined =>
      started.standin?.rds.instances.find((i) => i.region === region.awsRegion && i.identifier === databaseIdentifier(region))?.port;
    const nodePort = await freePort();
    // The drill SQL runner's entry point runs as a local process per RunTask (the image's command, through tsx here).
    const caDir = mkdtempSync(join(tmpdir(), 'callfs-drill-sql-ca-'));
    const caBundlePath = join(caDir, 'rds-global-bundle.pem');
    writeFileSync(caBundlePath, caBundle);
    const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
    const standin = await startAwsStandin({
      regions: ordered.map((r) => ({
        name: r.name,
        awsRegion: r.awsRegion,
        cidr: r.cidr,
        healthCheckPath: r.healthCheckPath,
        bucketName: regionBucketName(r, STANDIN_ACCOUNT),
        database: { address: '127.0.0.1', port: initial.get(r.name)?.port ?? 0, handle: initial.get(r.name) },
        cache: { address: '127.0.0.1', port: redis[r.name]?.port ?? 0 },
        nodeCount: 2,
      })),
      hostedZoneId: HOSTED_ZONE,
      globalHostname: GLOBAL_HOSTNAME,
      // RDS and ElastiCache: a documented second is a real millisecond (a 20-60 min cross-region
      // replica takes 1.2-3.6 s); ECS tasks: 20 ms, so a task's minute-long replacement lasts long
      // enough to be seen; Route 53: 2 ms (a 90 s health status change takes 180 ms).
      msPerSecond: 1,
      timeScale: { ecs: 20, route53: 2, runTask: 5 },
      drillSqlRunner: {
        caBundlePath,
        process: {
          command: process.execPath,
          args: ['--import', 'tsx', 'app/drill-sql/main.ts'],
          cwd: repoRoot,
          imageEnvironment: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp', NODE_ENV: 'production' },
        },
      },
      nodePort,
      secrets: {
        [SECRET_NAMES.databaseCredentials]: JSON.stringify({ username: 'postgres', password: 'admin-password-unused-by-trust-auth' }),
        [SECRET_NAMES.lockCacheAuthToken]: LOCK_TOKEN,
        [SECRET_NAMES.apiKeys]: API_KEY,
      },
      rdsBacking: {
        async createReplica(source) {
          const server = source.handle as PostgresServer;
          const standby = await startStandby(server);
          servers.push(standby);
          return { address: '127.0.0.1', port: standby.port, handle: standby };
        },
        async promote(instance) {
          await (instance.handle as StandbyServer).promote();
        },
      },
      nodeHealth: async (awsRegion) => {
        // A node reports the epoch it last read from its region's database.
        const region = ordered.find((r) => r.awsRegion === awsRegion);
        const port = region === undefined ? undefined : currentPort(region);
        if (port === undefined) return { status: 'ok', epoch: null, lock_home: null };
        const rows = await admin(port, DATABASE_NAME, async (c) => (await c.query<{ epoch: string; lock_home: string | null }>('SELECT epoch::text, lock_home FROM callfs_epoch WHERE id = 1')).rows);
        return { status: 'ok', epoch: rows[0] === undefined ? null : Number(rows[0].epoch), lock_home: rows[0]?.lock_home ?? null };
      },
      onError: (error) => log.push(`stand-in: ${error instanceof Error ? error.message : String(error)}`),
    });
    started.standin = standin;
    const world = standin;

    /** The probe API of a region's nodes: writes go to the writable primary as the nodes' role. */
    const probeFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      const region = ordered.find((r) => url.hostname === `${r.name}.${GLOBAL_HOSTNAME}`);
      if (region === undefined) return fetch(input, init);
      const ready = world.ecs.tasks.some((t) => t.region === region.awsRegion && t.desiredStatus === 'RUNNING' && t.lastStatus === 'RUNNING' && t.healthStatus === 'HEALTHY');
      if (!ready) return new Response('no ready node', { status: 503 });
      if (new Headers(init?.headers).get('authorization') !== `Bearer ${API_KEY}`) return new Response('unauthorized', { status: 401 });
      const writable = world.rds.instances.filter((i) => i.sourceArn === undefined && !i.tags.some((t) => t.Key === FENCED_TAG) && i.status === 'available' && i.renamingTo === undefined);
      const target = writable[0];
      if (writable.length !== 1 || target === undefined) return new Response(`${writable.length} writable primaries`, { status: 503 });
      const client = new pg.Client({ host: '127.0.0.1', port: target.port, user: APP_ROLE, database: DATABASE_NAME, connectionTimeoutMillis: 5000, query_timeout: 5000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        const method = init?.method ?? 'GET';
        const headers = { 'x-callfs-served-by': `${region.name}-task; primary=${target.identifier}` };
        if (method === 'POST') {
          await client.query('INSERT INTO drill_probe (path, body) VALUES ($1, $2)', [url.pathname, String(init?.body ?? '')]);
          return new Response('{}', { status: 201, headers });
        }
        if (method === 'DELETE') {
          await client.query('DELETE FROM drill_probe WHERE path = $1', [url.pathname]);
          return new Response(null, { status: 204, headers });
        }
        const rows = (await client.query<{ body: string }>('SELECT body FROM drill_probe WHERE path = $1', [url.pathname])).rows;
        return rows[0] === undefined ? new Response('not found', { status: 404 }) : new Response(rows[0].body, { status: 200, headers });
      } catch (error) {
        return new Response(`write failed: ${error instanceof Error ? error.message : String(error)}`, { status: 503 });
      } finally {
        await client.end().catch(() => undefined);
      }
    };

    return {
      standin: world,
      regions: ordered,
      servers,
      redis,
      caBundle,
      log,
      provider: (overrides = {}) =>
        createAwsProvider({
          endpoint: world.endpoint,
          credentials: { accessKeyId: 'AKIDSTANDIN0000000000', secretAccessKey: 'stand-in-secret-key' },
          regions: ordered,
          dns: { hostedZoneId: HOSTED_ZONE, globalHostname: GLOBAL_HOSTNAME },
          accountId: STANDIN_ACCOUNT,
          withdrawBy: 'resource-path',
          clientSubnets: Object.fromEntries(ordered.map((r) => [r.name, `${r.cidr.split('/')[0]?.replace(/\.0$/, '.10') ?? ''}/24`])),
          caBundle,
          appRole: APP_ROLE,
          nodePort,
          // The stand-in's tasks answer plain http (the deployed nodes serve self-signed https).
          nodeScheme: 'http',
          fetch: probeFetch as typeof fetch,
          lockHome: createIoredisLockHome({ tls: false }),
          ecsSqlTimings: { pollIntervalMs: 50, logTimeoutMs: 10_000, taskTimeoutMs: 60_000 },
          timings: { pollIntervalMs: 50, notPromotableBackoffMs: 50, promotableTimeoutMs: 60_000, promotionTimeoutMs: 60_000, replicaTimeoutMs: 120_000, redisTimeoutMs: 60_000, nodeReplaceTimeoutMs: 60_000 },
          log: (line) => log.push(line),
          ...overrides,
        }),
      query: async (name, sql, values = []) => {
        const region = ordered.find((r) => r.name === name);
        const port = region === undefined ? undefined : currentPort(region);
        if (port === undefined) throw new Error(`no database in ${name}`);
        return admin(port, DATABASE_NAME, async (c) => (await c.query(sql, values)).rows);
      },
      close: async () => {
        await world.close();
        rmSync(caDir, { recursive: true, force: true });
        await Promise.allSettled([...servers.map((s) => s.destroy()), ...Object.values(redis).map((r) => r.stop())]);
      },
    };
  } catch (error) {
    await Promise.allSettled([...servers.map((s) => s.destroy()), ...Object.values(redis).map((r) => r.stop())]);
    throw error;
  }
}
