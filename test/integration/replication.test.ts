/**
 * Local-disk replication with nodes as separate processes: copies placed in another region
 * (synchronously on request, otherwise in the background), reads served from a current copy,
 * stale copies never served, a killed holder answered with 503 + Retry-After and then served from
 * a replica, automatic promotion after the grace period, and the operator's promote command.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startNodeProcess, type NodeProcess } from '../support/node-process.js';
import { eventually } from '../support/wait.js';
import { createTestDatabase } from '../../scripts/local-services/postgres.js';
import { storedFile } from '../support/stored-bytes.js';
import { freePort } from '../../scripts/local-services/processes.js';
import { api, type TestResponse } from '../support/test-node.js';

const repoRoot = new URL('../../', import.meta.url).pathname;
const started: NodeProcess[] = [];
let dir: string;

function replicationYaml(promoteAfter: string): string[] {
  return ['replication:', '  factor: 2', '  placement: other-region', '  repair_interval: 300ms', `  promote_after: ${promoteAfter}`];
}

async function launch(options: Parameters<typeof startNodeProcess>[0]): Promise<NodeProcess> {
  const node = await startNodeProcess(options);
  started.push(node);
  return node;
}


async function replicaRows(dsn: string, path: string): Promise<Array<{ instance_id: string; version: string }>> {
  const client = new pg.Client({ connectionString: dsn });
  await client.connect();
  try {
    return (await client.query<{ instance_id: string; version: string }>('SELECT instance_id, version FROM replicas WHERE path = $1 ORDER BY instance_id', [path])).rows;
  } finally {
    await client.end();
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'callfs-replicas-'));
});

afterAll(async () => {
  await Promise.all(started.map((node) => node.kill()));
  rmSync(dir, { recursive: true, force: true });
});

describe('replicas across regions', () => {
  let dsn: string;
  let a: NodeProcess;
  let b: NodeProcess;
  let c: NodeProcess;

  beforeAll(async () => {
    dsn = await createTestDatabase(inject('pgAdminUrl'));
    const redisUrl = inject('redisUrl');
    const ports = { a: await freePort(), b: await freePort(), c: await freePort() };
    const url = (p: number): string => `http://127.0.0.1:${p}`;
    const common = { dir, dsn, redisUrl, extraYaml: replicationYaml('3s') };
    [a, b, c] = await Promise.all([
      launch({ ...common, instanceId: 'rep-a', region: 'eu', port: ports.a, peers: { 'rep-b': url(ports.b), 'rep-c': url(ports.c) } }),
      launch({ ...common, instanceId: 'rep-b', region: 'us', port: ports.b, peers: { 'rep-a': url(ports.a), 'rep-c': url(ports.c) } }),
      launch({ ...common, instanceId: 'rep-c', region: 'eu', port: ports.c, peers: { 'rep-a': url(ports.a), 'rep-b': url(ports.b) } }),
    ]);
    // Placement needs the regions, which nodes learn from each other's registry rows.
    for (const node of [a, b, c]) {
      await eventually(
        async () => ((await (await api(node.url)('/v1/cluster')).json()) as { members: Array<{ registered: boolean }> }).members,
        (members) => members.length === 3 && members.every((m) => m.registered),
      );
    }
  }, 60_000);

  it('copies synchronously to the other region when asked, and says where', async () => {
    const res = await api(a.url)('/v1/files/docs/sync.txt', { method: 'PUT', body: 'copied before the answer', headers: { 'X-CallFS-Replication': 'sync' } });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-callfs-replicas')).toBe('rep-b');
    expect(readFileSync(await storedFile(dsn, b.rootPath, 'docs/sync.txt'), 'utf8')).toBe('copied before the answer');
    expect(await replicaRows(dsn, '/docs/sync.txt')).toEqual([{ instance_id: 'rep-b', version: '1' }]);
    expect(existsSync(await storedFile(dsn, c.rootPath, 'docs/sync.txt'))).toBe(false);
  });

  it('copies in the background after an ordinary write', async () => {
    expect((await api(a.url)('/v1/files/docs/async.txt', { method: 'POST', body: 'copied later' })).status).toBe(201);
    const rows = await eventually(
      () => replicaRows(dsn, '/docs/async.txt'),
      (r) => r.length === 1,
    );
    expect(rows).toEqual([{ instance_id: 'rep-b', version: '1' }]);
    expect(readFileSync(await storedFile(dsn, b.rootPath, 'docs/async.txt'), 'utf8')).toBe('copied later');
  });

  it('serves a read from the reader’s own current copy', async () => {
    const res = await api(b.url)('/v1/files/docs/sync.txt');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('copied before the answer');
    expect(res.headers.get('x-callfs-served-by')).toBe('rep-b; region=us');
    expect(res.headers.get('x-callfs-instance-id')).toBe('rep-a');
    expect(res.headers.get('x-callfs-region-hops')).toBe('0');
  });

  it('never serves a stale copy: after an update the new bytes come back until the copy is current again', async () => {
    expect((await api(a.url)('/v1/files/docs/sync.txt', { method: 'PUT', body: 'second version' })).status).toBe(200);
    const res = await api(b.url)('/v1/files/docs/sync.txt');
    expect(await res.text()).toBe('second version');
    const rows = await eventually(
      () => replicaRows(dsn, '/docs/sync.txt'),
      (r) => r[0]?.version === '2',
    );
    expect(rows).toEqual([{ instance_id: 'rep-b', version: '2' }]);
    expect(readFileSync(await storedFile(dsn, b.rootPath, 'docs/sync.txt'), 'utf8')).toBe('second version');
  });

  it('repairs a copy that went missing', async () => {
    const client = new pg.Client({ connectionString: dsn });
    await client.connect();
    await client.query(`DELETE FROM replicas WHERE path = '/docs/async.txt'`);
    await client.end();
    const rows = await eventually(
      () => replicaRows(dsn, '/docs/async.txt'),
      (r) => r.length === 1,
    );
    expect(rows).toEqual([{ instance_id: 'rep-b', version: '1' }]);
  });

  it('answers 503 with Retry-After while a killed holder is detected, then serves its files from a replica', async () => {
    await api(a.url)('/v1/files/docs/kill.txt', { method: 'PUT', body: 'survives its holder', headers: { 'X-CallFS-Replication': 'sync' } });
    await a.kill();
    const seen: TestResponse[] = [];
    const final = await eventually(
      async () => {
        const res = await api(c.url)('/v1/files/docs/kill.txt');
        seen.push(res);
        return res;
      },
      (res) => res.status === 200,
    );
    expect(final.status).toBe(200);
    expect(await final.text()).toBe('survives its holder');
    expect(final.headers.get('x-callfs-served-by')).toBe('rep-b; region=us');
    // Asked in eu, answered from us: one hop between regions, and the answer says so.
    expect(final.headers.get('x-callfs-region-hops')).toBe('1');
    for (const res of seen.slice(0, -1)) {
      expect(res.status).toBe(503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
  });

  it('promotes the replica to holder after the grace period, so the file can be written again', async () => {
    const head = await eventually(
      () => api(c.url)('/v1/files/docs/kill.txt', { method: 'HEAD' }),
      (res) => res.headers.get('x-callfs-instance-id') === 'rep-b',
    );
    expect(head.headers.get('x-callfs-instance-id')).toBe('rep-b');
    const write = await api(c.url)('/v1/files/docs/kill.txt', { method: 'PUT', body: 'written after promotion' });
    expect(write.status).toBe(200);
    expect(readFileSync(await storedFile(dsn, b.rootPath, 'docs/kill.txt'), 'utf8')).toBe('written after promotion');
  });
});

describe('npm run promote', () => {
  it('hands a departed node’s replicated files to the node with the copies', async () => {
    const dsn = await createTestDatabase(inject('pgAdminUrl'));
    const redisUrl = inject('redisUrl');
    const [pp, pq] = [await freePort(), await freePort()];
    const common = { dir, dsn, redisUrl, extraYaml: replicationYaml('0s') };
    const p = await launch({ ...common, instanceId: 'prom-p', region: 'eu', port: pp, peers: { 'prom-q': `http://127.0.0.1:${pq}` } });
    const q = await launch({ ...common, instanceId: 'prom-q', region: 'us', port: pq, peers: { 'prom-p': `http://127.0.0.1:${pp}` } });
    // p probed q while q was still starting: wait until p sees it up.
    await eventually(
      async () => ((await (await api(p.url)('/v1/cluster')).json()) as { members: Array<{ instance_id: string; health: string }> }).members,
      (members) => members.find((m) => m.instance_id === 'prom-q')?.health === 'up',
    );
    const put = await api(p.url)('/v1/files/kept.txt', { method: 'PUT', body: 'has a copy', headers: { 'X-CallFS-Replication': 'sync' } });
    expect(put.headers.get('x-callfs-replicas')).toBe('prom-q');
    await p.stop();

    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(repoRoot, 'app/admin/promote.ts'), '--config', q.configFile, '--from', 'prom-p'], {
      cwd: repoRoot,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(JSON.parse(stdout)).toEqual({ from: 'prom-p', promoted: { 'prom-q': 1 }, unreplicated: 0 });
    const read = await api(q.url)('/v1/files/kept.txt');
    expect(read.status).toBe(200);
    expect(read.headers.get('x-callfs-instance-id')).toBe('prom-q');
    expect(await read.text()).toBe('has a copy');
  }, 60_000);
});
