/**
 * Membership and availability with nodes as separate processes on one Postgres and one Redis:
 * nodes announce themselves (a node nobody lists is still reachable), GET /v1/cluster shows
 * members, regions and health, a crashed holder gives a prompt 503 naming it with Retry-After,
 * and a node leaving under load finishes its in-flight upload and leaves the registry.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startNodeProcess, type NodeProcess } from '../support/node-process.js';
import { eventually } from '../support/wait.js';
import { createTestDatabase } from '../../scripts/local-services/postgres.js';
import { storedFile, toLegacyLayout } from '../support/stored-bytes.js';
import { freePort } from '../../scripts/local-services/processes.js';
import { api, call, type TestResponse } from '../support/test-node.js';

let dir: string;
let dsn: string;
let redisUrl: string;
let a: NodeProcess;
let b: NodeProcess;
const started: NodeProcess[] = [];

async function launch(options: Parameters<typeof startNodeProcess>[0]): Promise<NodeProcess> {
  const node = await startNodeProcess(options);
  started.push(node);
  return node;
}


interface Member {
  instance_id: string;
  self: boolean;
  region: string;
  registered: boolean;
  static: boolean;
  health: string;
  internal_url: string | null;
  version: string | null;
  heartbeat_age_ms: number | null;
}

async function members(node: NodeProcess): Promise<Member[]> {
  const res = await api(node.url)('/v1/cluster');
  if (res.status !== 200) return [];
  return ((await res.json()) as { members: Member[] }).members;
}

async function registeredIds(): Promise<string[]> {
  const client = new pg.Client({ connectionString: dsn });
  await client.connect();
  try {
    const result = await client.query<{ instance_id: string }>('SELECT instance_id FROM cluster_members ORDER BY instance_id');
    return result.rows.map((r) => r.instance_id);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'callfs-members-'));
  dsn = await createTestDatabase(inject('pgAdminUrl'));
  redisUrl = inject('redisUrl');
  const [pa, pb] = [await freePort(), await freePort()];
  [a, b] = await Promise.all([
    launch({ dir, dsn, redisUrl, instanceId: 'node-a', region: 'eu', port: pa, peers: { 'node-b': `http://127.0.0.1:${pb}` } }),
    launch({ dir, dsn, redisUrl, instanceId: 'node-b', region: 'us', port: pb, peers: { 'node-a': `http://127.0.0.1:${pa}` } }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all(started.map((node) => node.kill()));
  rmSync(dir, { recursive: true, force: true });
});

describe('a node nobody lists joins through the registry', () => {
  let c: NodeProcess;
  beforeAll(async () => {
    c = await launch({ dir, dsn, redisUrl, instanceId: 'node-c', region: 'ap' });
  }, 60_000);

  it('appears in GET /v1/cluster of the other nodes with its region, version and health', async () => {
    const seen = await eventually(
      () => members(a),
      (list) => list.find((m) => m.instance_id === 'node-c')?.health === 'up',
    );
    const byId = Object.fromEntries(seen.map((m) => [m.instance_id, m]));
    expect(Object.keys(byId)).toEqual(['node-a', 'node-b', 'node-c']);
    expect(byId['node-a']).toMatchObject({ self: true, region: 'eu', registered: true, health: 'up', internal_url: a.url });
    expect(byId['node-b']).toMatchObject({ self: false, static: true, registered: true, region: 'us', internal_url: b.url });
    const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    expect(byId['node-c']).toMatchObject({ self: false, static: false, registered: true, region: 'ap', internal_url: c.url, version, health: 'up' });
    expect(byId['node-c']?.heartbeat_age_ms).toBeLessThan(5000);
  });

  it('answers /v1/cluster only to authenticated callers', async () => {
    const res = await call(`${a.url}/v1/cluster`);
    expect(res.status).toBe(401);
  });

  it('forwards a request for a file on the unlisted node to it', async () => {
    const onC = api(c.url);
    expect((await onC('/v1/files/joined/hello.txt', { method: 'POST', body: 'held by c' })).status).toBe(201);
    const read = await api(a.url)('/v1/files/joined/hello.txt');
    expect(read.status).toBe(200);
    expect(await read.text()).toBe('held by c');
    expect(read.headers.get('x-callfs-served-by')).toBe('node-c; region=ap');
    expect(readFileSync(await storedFile(dsn, c.rootPath, 'joined/hello.txt'), 'utf8')).toBe('held by c');
  });

  it('gives a prompt 503 naming a crashed holder, with Retry-After, and reports it down', async () => {
    await api(c.url)('/v1/files/crash/doomed.txt', { method: 'POST', body: 'bytes only c has' });
    // doomed.txt as an earlier release stored it (bytes at its path on c): moving it moves bytes on c.
    const db = new pg.Client({ connectionString: dsn });
    await db.connect();
    await toLegacyLayout(db, c.rootPath, '/crash/doomed.txt').finally(() => db.end());
    // A file of the versioned layout: its bytes are named by blob key, so moving it is metadata only.
    expect((await api(c.url)('/v1/files/crash-versioned/kept.txt', { method: 'POST', body: 'versioned on c' })).status).toBe(201);
    const link = await api(a.url)('/v1/links/generate', { method: 'POST', body: JSON.stringify({ path: '/crash/doomed.txt', expiry_seconds: 300 }) });
    const { token } = (await link.json()) as { token: string };
    await c.kill();
    const started = Date.now();
    const res = await api(a.url)('/v1/files/crash/doomed.txt');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await res.json()).toMatchObject({ code: 'PEER_UNAVAILABLE', instance_id: 'node-c' });
    const view = await eventually(
      () => members(a),
      (list) => list.find((m) => m.instance_id === 'node-c')?.health === 'down',
    );
    expect(view.find((m) => m.instance_id === 'node-c')).toMatchObject({ health: 'down', registered: true });
    // Once the peer is known down, requests fail at once instead of trying it again.
    const again = await api(b.url)('/v1/files/crash/doomed.txt');
    expect(again.status).toBe(503);
    expect((await again.json()).instance_id).toBe('node-c');
    // A directory holding that file cannot be moved while its holder is down; nothing moves.
    const move = await api(a.url)('/v1/files/crash', { method: 'PATCH', body: JSON.stringify({ name: 'crash-moved' }) });
    expect(move.status).toBe(503);
    expect(await move.json()).toMatchObject({ code: 'PEER_UNAVAILABLE', instance_id: 'node-c' });
    expect((await api(a.url)('/v1/files/crash/doomed.txt', { method: 'HEAD' })).status).toBe(200);
    // A directory holding only versioned files of c moves without c.
    expect((await api(a.url)('/v1/files/crash-versioned', { method: 'PATCH', body: JSON.stringify({ name: 'versioned-moved' }) })).status).toBe(200);
    expect((await api(a.url)('/v1/files/versioned-moved/kept.txt', { method: 'HEAD' })).status).toBe(200);
    expect((await api(a.url)('/v1/files/crash-versioned/kept.txt', { method: 'HEAD' })).status).toBe(404);
    // A link whose bytes could not be reached is not spent: it still answers 503, not 410 LINK_USED.
    for (let attempt = 0; attempt < 2; attempt++) {
      const download = await call(`${a.url}/download/${token}`);
      expect(download.status).toBe(503);
      expect(await download.json()).toMatchObject({ code: 'PEER_UNAVAILABLE', instance_id: 'node-c' });
    }
  });
});

describe('a node joining and leaving under load', () => {
  it('keeps the other nodes serving, finishes its in-flight upload, then leaves the registry', async () => {
    // Files on a and b, read in a loop through the other node while d joins and leaves.
    await api(a.url)('/v1/files/load/on-a.txt', { method: 'PUT', body: 'a' });
    await api(b.url)('/v1/files/load/on-b.txt', { method: 'PUT', body: 'b' });
    const statuses: number[] = [];
    let stopLoad = false;
    const load = (async () => {
      for (let i = 0; i < 2000 && !stopLoad; i++) {
        const [x, y] = await Promise.all([api(b.url)('/v1/files/load/on-a.txt'), api(a.url)('/v1/files/load/on-b.txt')]);
        statuses.push(x.status, y.status);
        await Promise.all([x.text(), y.text()]);
      }
    })();

    const d = await launch({ dir, dsn, redisUrl, instanceId: 'node-d', region: 'eu' });
    await eventually(registeredIds, (ids) => ids.includes('node-d'));
    expect((await api(d.url)('/v1/files/load/on-d.txt', { method: 'PUT', body: 'd' })).status).toBe(201);
    const viaA = await eventually(
      () => api(a.url)('/v1/files/load/on-d.txt'),
      (res: TestResponse) => res.status === 200,
    );
    expect(await viaA.text()).toBe('d');

    // An upload in flight when d is told to stop still completes.
    const chunks = ['first half, ', 'second half'];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(new TextEncoder().encode(chunks[0]));
        await gate;
        controller.enqueue(new TextEncoder().encode(chunks[1]));
        controller.close();
      },
    });
    const upload = api(d.url)('/v1/files/load/slow.txt', { method: 'PUT', body, duplex: 'half' });
    await new Promise((r) => setTimeout(r, 300));
    const stopping = d.stop();
    await new Promise((r) => setTimeout(r, 300));
    release();
    expect((await upload).status).toBe(201);
    await stopping;
    expect(await d.exited).toBe(0);
    expect(readFileSync(await storedFile(dsn, d.rootPath, 'load/slow.txt'), 'utf8')).toBe(chunks.join(''));
    expect(await registeredIds()).not.toContain('node-d');

    const gone = await api(a.url)('/v1/files/load/on-d.txt');
    expect(gone.status).toBe(503);
    expect((await gone.json()).instance_id).toBe('node-d');

    stopLoad = true;
    await load;
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200)).toBe(true);
  }, 60_000);
});
