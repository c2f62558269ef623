/**
 * `npm run admin -- status|members|epoch` against a real three-node cluster: through a node with
 * an admin key and straight from Postgres with a DSN, as a table and as JSON.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../scripts/local-services/postgres.js';
import { freePort } from '../../scripts/local-services/processes.js';
import { api, KEYS, startTestNode, type TestNode } from '../support/test-node.js';

const repoRoot = new URL('../../', import.meta.url).pathname;

function admin(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(repoRoot, 'app/admin/main.ts'), ...args], { cwd: repoRoot, env: { ...process.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

let nodes: TestNode[] = [];
let dsn: string;

beforeAll(async () => {
  dsn = await createTestDatabase(inject('pgAdminUrl'));
  const redisUrl = inject('redisUrl');
  const ports = [await freePort(), await freePort(), await freePort()];
  const ids = ['adm-eu', 'adm-us', 'adm-ap'];
  const regions = ['eu', 'us', 'ap'];
  const url = (i: number): string => `http://127.0.0.1:${ports[i] ?? 0}`;
  nodes = [];
  for (let i = 0; i < 3; i++) {
    const peers = Object.fromEntries(ids.map((id, j) => [id, url(j)]).filter(([id]) => id !== ids[i]));
    nodes.push(await startTestNode({ dsn, redisUrl, instanceId: ids[i] ?? '', region: regions[i] ?? '', port: ports[i] ?? 0, peers }));
  }
  // One local-disk file with no copies: replication factor 2 leaves it in the backlog.
  expect((await api(nodes[0]?.url ?? '')('/v1/files/admin/one.txt', { method: 'PUT', body: 'one copy' })).status).toBe(201);
});

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.close()));
});

describe('npm run admin', () => {
  it('shows status through a node with an admin key, as a table', async () => {
    const { code, stdout, stderr } = await admin(['status', '--url', nodes[1]?.url ?? ''], { ADMIN_API_KEY: KEYS.owner });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('cluster status from node adm-us');
    expect(stdout).toMatch(/^INSTANCE\s+REGION\s+ADDRESS\s+VERSION\s+UPTIME\s+LAST HEARTBEAT$/m);
    for (const [id, region] of [['adm-eu', 'eu'], ['adm-us', 'us'], ['adm-ap', 'ap']]) expect(stdout).toMatch(new RegExp(`^${id}\\s+${region}\\s+http://127\\.0\\.0\\.1:\\d+\\s+\\S+\\s+\\d+s\\s+[\\d.]+s ago$`, 'm'));
    expect(stdout).toMatch(/^127\.0\.0\.1:\d+\s+primary/m);
    expect(stdout).toMatch(/^epoch \d+; primary region/m);
  });

  it('answers JSON from Postgres with a DSN, backlog counted against the factor', async () => {
    const { code, stdout } = await admin(['status', '--dsn', dsn, '--replication-factor', '2', '--json']);
    expect(code).toBe(0);
    const status = JSON.parse(stdout) as { source: string; members: Array<{ instance_id: string; region: string; uptime_s: number }>; database: { servers: Array<{ role: string }> }; epoch: { epoch: number } | null; replication: { factor: number; files_below_factor: number; local_files: number } };
    expect(status.source).toBe('postgres');
    expect(status.members.map((m) => `${m.instance_id}@${m.region}`).sort()).toEqual(['adm-ap@ap', 'adm-eu@eu', 'adm-us@us']);
    expect(status.database.servers.map((s) => s.role)).toEqual(['primary']);
    expect(status.epoch?.epoch).toBeGreaterThanOrEqual(1);
    expect(status.replication).toEqual({ factor: 2, files_below_factor: 1, local_files: 1 });
  });

  it('lists members and the epoch on their own', async () => {
    const members = await admin(['members', '--dsn', dsn, '--json']);
    expect((JSON.parse(members.stdout) as unknown[]).length).toBe(3);
    const epoch = await admin(['epoch', '--url', nodes[0]?.url ?? '', '--key', KEYS.owner]);
    expect(epoch.stdout).toMatch(/^epoch \d+; primary region .*; lock home .*$/m);
  });

  it('refuses a key that is not an admin key, and says why', async () => {
    const { code, stderr } = await admin(['status', '--url', nodes[0]?.url ?? ''], { ADMIN_API_KEY: KEYS.alice });
    expect(code).toBe(1);
    expect(stderr).toContain('403 PERMISSION_DENIED');
  });

  it('names an unreachable database and does not print its password', async () => {
    const port = await freePort();
    const { code, stderr } = await admin(['status', '--dsn', `postgres://callfs:hunter2-secret@127.0.0.1:${port}/callfs`]);
    expect(code).toBe(1);
    expect(stderr).toContain(`127.0.0.1:${port}: connection refused`);
    expect(stderr).not.toContain('hunter2');
  });
});
