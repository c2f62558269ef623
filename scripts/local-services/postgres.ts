/**
 * @module A private PostgreSQL cluster on a free loopback port, for the tests and the bench: the
 * machine's binaries (postgres-binaries.ts), run as the `postgres` OS user when we are root, its
 * socket in a private directory. Each test file creates its own database (`createTestDatabase`).
 * `startStandby` adds a streaming replica of such a cluster, which a test can promote.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { initdbArgs, postgresOsUser, requirePostgresBinDir, RUNNING_AS_ROOT } from './postgres-binaries.js';
import { freePort, stopChild, waitForPort } from './processes.js';

export interface PostgresServer {
  readonly adminUrl: string;
  readonly binDir: string;
  readonly port: number;
  readonly dataDir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes its files. */
  destroy(): Promise<void>;
}

export interface StandbyServer extends PostgresServer {
  /** Ends recovery (`pg_ctl promote`) and returns once the server accepts writes. */
  promote(): Promise<void>;
}

const runFile = promisify(execFile);

/** Postgres refuses to run as root: as root, run its binaries as the `postgres` OS user. */
function postgresIds(): { uid: number; gid: number } | Record<string, never> {
  return RUNNING_AS_ROOT ? postgresOsUser() : {};
}

/** A private directory, owned by the user the server runs as, to hold its data and socket. */
function privateBase(): string {
  const base = mkdtempSync(join(tmpdir(), 'callfs-pg-'));
  const ids = postgresIds();
  if ('uid' in ids) chownSync(base, ids.uid, ids.gid);
  chmodSync(base, 0o700);
  return base;
}

export async function startPostgres(): Promise<PostgresServer> {
  const binDir = requirePostgresBinDir();
  const base = privateBase();
  const dataDir = join(base, 'data');
  execFileSync(join(binDir, 'initdb'), initdbArgs(dataDir), { stdio: 'ignore', ...postgresIds() });
  return superviseCluster(binDir, base, dataDir);
}

/**
 * A streaming replica of `primary` on its own port: a base backup with `-R` (which writes the
 * standby signal and the primary's address) started as a hot standby; returns once it streams.
 * The cluster's default pg_hba trusts replication from loopback, and `wal_level=replica` is set.
 */
export async function startStandby(primary: PostgresServer): Promise<StandbyServer> {
  const base = privateBase();
  const dataDir = join(base, 'data');
  const ids = postgresIds();
  try {
    await runFile(join(primary.binDir, 'pg_basebackup'), ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', dataDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync'], {
      timeout: 60_000,
      ...ids,
    });
  } catch (error) {
    rmSync(base, { recursive: true, force: true });
    throw error;
  }
  const server = await superviseCluster(primary.binDir, base, dataDir);
  try {
    await waitFor(server.adminUrl, "SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'", 20_000);
  } catch (error) {
    await server.destroy();
    throw error;
  }
  return {
    ...server,
    promote: async () => {
      await runFile(join(primary.binDir, 'pg_ctl'), ['promote', '-w', '-t', '30', '-D', dataDir], { timeout: 40_000, ...ids });
      await waitFor(server.adminUrl, 'SELECT 1 WHERE NOT pg_is_in_recovery()', 20_000);
    },
  };
}

/** Polls `sql` until it returns a row; every attempt has its own timeouts. */
async function waitFor(adminUrl: string, sql: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000, query_timeout: 2000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      if ((await client.query(sql)).rows.length > 0) return;
    } catch {
      // not there yet
    } finally {
      client.end().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${sql}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs the postmaster of `dataDir` (as the `postgres` user when root) on a free loopback port. */
async function superviseCluster(binDir: string, base: string, dataDir: string): Promise<PostgresServer> {
  const ids = postgresIds();
  const port = await freePort();
  let child: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    const args = [
      '-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${base}`,
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=300', '-c', 'wal_level=replica',
    ];
    child = spawn(join(binDir, 'postgres'), args, { stdio: 'ignore', ...ids });
    await waitForPort(port, 20_000);
    const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
    for (let attempt = 0; ; attempt++) {
      const client = new pg.Client({ connectionString: adminUrl });
      try {
        await client.connect();
        await client.query('SELECT 1');
        await client.end();
        return;
      } catch (error) {
        await client.end().catch(() => undefined);
        if (attempt > 100) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const stop = async (): Promise<void> => {
    // SIGINT is Postgres's "fast" shutdown (SIGTERM, "smart", would wait for clients to leave).
    if (child !== null) await stopChild(child, 'SIGINT', 15_000);
    child = null;
  };
  await start();
  return {
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    binDir,
    port,
    dataDir,
    start,
    stop,
    destroy: async () => {
      await stop();
      rmSync(base, { recursive: true, force: true });
    },
  };
}

let counter = 0;

/** Creates a fresh database on the server and returns its DSN. */
export async function createTestDatabase(adminUrl: string): Promise<string> {
  const name = `callfs_test_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  return adminUrl.replace(/\/postgres$/, `/${name}`);
}

/** One statement on its own connection (bounded connect and query), closed afterwards; the rows. */
export async function queryOnce<R extends pg.QueryResultRow>(dsn: string, sql: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: dsn, connectionTimeoutMillis: 3000, query_timeout: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(sql, values)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}
