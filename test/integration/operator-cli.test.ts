/**
 * Every entry point reads its command line the same way (--help exits 0 with usage, --version,
 * an unknown option exits 2 pointing at --help), and the node's start-up tells an operator what
 * is wrong: config mistakes all at once with suggestions, and an unreachable Postgres, Redis or
 * S3 named by host:port, cause and config key, without the password.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../scripts/local-services/postgres.js';
import { freePort } from '../../scripts/local-services/processes.js';
import { KEYS } from '../support/test-node.js';

const repoRoot = new URL('../../', import.meta.url).pathname;

function run(script: string, args: string[], env: Record<string, string> = {}, cwd = repoRoot): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(repoRoot, script), ...args], { cwd, env: { ...process.env, NODE_OPTIONS: '', ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

const ENTRY_POINTS: ReadonlyArray<readonly [string, string, string]> = [
  ['npm start', 'app/main.ts', 'npm start --'],
  ['cluster', 'scripts/cluster.ts', 'npm run cluster --'],
  ['rehearsal', 'scripts/rehearsal.ts', 'npm run rehearsal --'],
  ['drill', 'scripts/drill.ts', 'npm run drill --'],
  ['bench', 'scripts/bench.ts', 'npm run bench --'],
  ['bench:geo', 'scripts/bench-geo.ts', 'npm run bench:geo --'],
  ['bench:write-phases', 'scripts/bench-write-phases.ts', 'npm run bench:write-phases --'],
  ['promote', 'app/admin/promote.ts', 'npm run promote --'],
  ['admin', 'app/admin/main.ts', 'npm run admin --'],
];

describe.each(ENTRY_POINTS)('%s', (_name, script, command) => {
  it('answers --help with its usage and exit 0', async () => {
    const { code, stdout } = await run(script, ['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^usage:\s+npm (start|run \S+)/);
  });

  it('answers --version', async () => {
    const { code, stdout } = await run(script, ['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^geo-callfs \d+\.\d+\.\d+ \(node v\d+/);
  });

  it('refuses an unknown option with exit 2 and a pointer to --help', async () => {
    const { code, stdout, stderr } = await run(script, ['--confg', 'x.yaml']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('unknown option --confg');
    expect(stderr).toContain(`See: ${command} --help`);
  });
});

describe('drill dry run', () => {
  it('shows the plan from regions/ when no rehearsal runs', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'drill-dry-'));
    try {
      const { code, stdout } = await run('scripts/drill.ts', ['primary-failover', 'us'], { REHEARSAL_DIR: empty, DRILL_DIR: join(empty, 'drills') });
      expect(code).toBe(0);
      expect(stdout).toContain('the rehearsal is not running');
      expect(stdout).toMatch(/^drill primary-failover us \(provider local\)$/m);
      expect(stdout).toMatch(/^\s+\d+\. promote\s/m);
      expect(stdout).toContain('dry run: nothing was changed');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('node start-up', () => {
  let dir: string;
  let dsn: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'callfs-startup-'));
    dsn = await createTestDatabase(inject('pgAdminUrl'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const yaml = (lines: string[]): string =>
    [
      'server:',
      '  listen_addr: "127.0.0.1:0"',
      '  protocol: http',
      'auth:',
      `  api_keys: ["${KEYS.owner}"]`,
      '  internal_proxy_secret: startup-test-internal-secret',
      '  single_use_link_secret: startup-test-link-secret',
      'backend:',
      `  localfs_root_path: "${join(dir, 'files')}"`,
      ...lines,
    ].join('\n');

  it('prints every configuration problem, one line each, with suggestions for typos', async () => {
    writeFileSync(join(dir, 'typos.yaml'), yaml(['metadata_store:', '  dsn: mysql://db', 'dml:', '  type: local']).replace('  listen_addr:', '  listen_adr:'));
    const { code, stderr } = await run('app/main.ts', ['--config', join(dir, 'typos.yaml')], { CALLFS_LOG__LEVL: 'debug' });
    expect(code).toBe(2);
    expect(stderr.trim().split('\n').sort()).toEqual(
      [
        'config: server.listen_adr: unknown key; did you mean server.listen_addr?',
        'config: dml: unknown key; did you mean dlm?',
        'config: CALLFS_LOG__LEVL: unknown setting log.levl; did you mean CALLFS_LOG__LEVEL?',
        'config: metadata_store.dsn: must be a postgres:// URL',
      ].sort(),
    );
  });

  it('admin sweep: a dry run lists the orphaned blob and changes nothing; --yes quarantines it; a foreign file stays', async () => {
    const root = join(dir, 'sweep-files');
    const orphan = '.callfs/blobs/ab/ab0123456789abcdef0123456789abcd';
    writeFileSync(join(dir, 'sweep.yaml'), yaml(['metadata_store:', `  dsn: "${dsn}"`, 'dlm:', '  type: local']).replace(join(dir, 'files'), root));
    mkdirSync(join(root, '.callfs', 'blobs', 'ab'), { recursive: true });
    writeFileSync(join(root, 'foreign.txt'), 'not ours');
    writeFileSync(join(root, orphan), 'crashed write');
    const old = new Date(Date.now() - 86_400_000);
    for (const file of ['foreign.txt', orphan]) utimesSync(join(root, file), old, old);

    // A store without this cluster's marker is never swept.
    const unmarked = await run('app/admin/main.ts', ['sweep', '--config', join(dir, 'sweep.yaml'), '--yes']);
    expect(unmarked.code).toBe(0);
    expect(unmarked.stdout).toContain(`skipped local disk ${root}:`);
    expect(readFileSync(join(root, orphan), 'utf8')).toBe('crashed write');

    const db = new pg.Client({ connectionString: dsn });
    await db.connect();
    const { rows } = await db.query<{ cluster_id: string }>('SELECT cluster_id FROM callfs_cluster');
    await db.end();
    writeFileSync(join(root, '.callfs', 'cluster.json'), JSON.stringify({ cluster_id: rows[0]?.cluster_id }));

    const dry = await run('app/admin/main.ts', ['sweep', '--config', join(dir, 'sweep.yaml'), '--json']);
    expect(dry.code).toBe(0);
    const report = JSON.parse(dry.stdout) as { dryRun: boolean; quarantined: number; actions: Array<{ action: string; key: string }> };
    expect(report.dryRun).toBe(true);
    expect(report.quarantined).toBe(1);
    expect(report.actions).toEqual([{ store: `local disk ${root}`, action: 'quarantine', key: orphan }]);
    expect(readFileSync(join(root, orphan), 'utf8')).toBe('crashed write');

    const done = await run('app/admin/main.ts', ['sweep', '--config', join(dir, 'sweep.yaml'), '--yes']);
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/^sweep done: did quarantine 1 orphaned blob/);
    expect(existsSync(join(root, orphan))).toBe(false);
    const stamps = readdirSync(join(root, '.callfs', 'quarantine'));
    expect(stamps).toHaveLength(1);
    expect(readFileSync(join(root, '.callfs', 'quarantine', stamps[0] ?? '', orphan.slice('.callfs/'.length)), 'utf8')).toBe('crashed write');
    expect(readFileSync(join(root, 'foreign.txt'), 'utf8')).toBe('not ours');
  });

  it('admin sweep refuses to run without --config', async () => {
    const { code, stderr } = await run('app/admin/main.ts', ['sweep', '--dsn', dsn]);
    expect(code).toBe(2);
    expect(stderr).toContain('sweep needs --config');
  });

  it('names Postgres by host:port, cause and key, without the password', async () => {
    const port = await freePort();
    writeFileSync(join(dir, 'pg.yaml'), yaml(['metadata_store:', `  dsn: "postgres://callfs:pg-secret-pw@127.0.0.1:${port}/callfs"`, 'dlm:', '  type: local']));
    const { code, stderr } = await run('app/main.ts', ['--config', join(dir, 'pg.yaml')]);
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(`callfs: failed to start: postgres at 127.0.0.1:${port} (metadata_store.dsn): connection refused (nothing listens there)`);
    expect(stderr).not.toContain('pg-secret-pw');
  });

  it('names Redis by host:port, cause and key', async () => {
    const port = await freePort();
    writeFileSync(join(dir, 'redis.yaml'), yaml(['metadata_store:', `  dsn: "${dsn}"`, 'dlm:', `  redis_addr: "127.0.0.1:${port}"`, '  redis_password: redis-secret-pw']));
    const { code, stderr } = await run('app/main.ts', ['--config', join(dir, 'redis.yaml')]);
    expect(code).toBe(1);
    expect(stderr.trim()).toMatch(new RegExp(`^callfs: failed to start: redis at 127\\.0\\.0\\.1:${port} \\(dlm\\.redis_addr\\): (connection refused|timed out)`));
    expect(stderr).not.toContain('redis-secret-pw');
  });

  it('names S3 by endpoint, cause and key', async () => {
    const port = await freePort();
    writeFileSync(
      join(dir, 's3.yaml'),
      yaml(['metadata_store:', `  dsn: "${dsn}"`, 'dlm:', '  type: local']).replace(
        'backend:',
        ['backend:', '  s3_bucket_name: missing-bucket', `  s3_endpoint: "http://127.0.0.1:${port}"`, '  s3_access_key: AKIATEST', '  s3_secret_key: s3-secret-pw', '  s3_server_side_encryption: ""'].join('\n'),
      ),
    );
    const { code, stderr } = await run('app/main.ts', ['--config', join(dir, 's3.yaml')]);
    expect(code).toBe(1);
    expect(stderr.trim().split('\n').pop()).toMatch(new RegExp(`^callfs: failed to start: s3 bucket missing-bucket at 127\\.0\\.0\\.1:${port} \\(backend\\.s3_endpoint\\): (connection refused|timed out)`));
    expect(stderr).not.toContain('s3-secret-pw');
  });
});
