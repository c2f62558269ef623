/**
 * The CallFS file API over real HTTP against a node on real Postgres and Redis with a local-disk
 * backend, where the answer is checked against bytes on disk and rows in Postgres. The rest of
 * the API's behaviour is tested in-process in test/unit/http/files-api.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../scripts/local-services/postgres.js';
import { storedFile, unreferencedBlobKeys } from '../support/stored-bytes.js';
import { eventually } from '../support/wait.js';
import { api, KEYS, startTestNode, type TestNode } from '../support/test-node.js';

let node: TestNode;
let db: pg.Client;
let owner: ReturnType<typeof api>;
let alice: ReturnType<typeof api>;

beforeAll(async () => {
  const dsn = await createTestDatabase(inject('pgAdminUrl'));
  node = await startTestNode({ dsn, redisUrl: inject('redisUrl') });
  owner = api(node.url, KEYS.owner);
  alice = api(node.url, KEYS.alice);
  db = new pg.Client({ connectionString: dsn });
  await db.connect();
});

afterAll(async () => {
  await db.end();
  await node.close();
});

/** Where the current version of `path` is stored on the node's disk (its blob key, or the path for legacy entries). */
const onDisk = (path: string): Promise<string> => storedFile(db, node.rootPath ?? '', path);

describe('POST, PUT, GET, HEAD', () => {
  it('creates a file with POST (201), writes the bytes and the row, refuses a second POST (409) untouched', async () => {
    const created = await owner('/v1/files/post/a.txt', { method: 'POST', body: 'first' });
    expect(created.status).toBe(201);
    expect(readFileSync(await onDisk('post/a.txt'), 'utf8')).toBe('first');
    const row = await db.query('SELECT type, size, owner, mode, callfs_instance_id FROM inodes WHERE path = $1', ['/post/a.txt']);
    expect(row.rows[0]).toEqual({ type: 'file', size: '5', owner: 'api-user-0', mode: '0644', callfs_instance_id: 'node1' });
    const again = await owner('/v1/files/post/a.txt', { method: 'POST', body: 'second' });
    expect(again.status).toBe(409);
    expect((await again.json()).code).toBe('FILE_ALREADY_EXISTS');
    expect(readFileSync(await onDisk('post/a.txt'), 'utf8')).toBe('first');
  });

  it('PUT creates (201), replaces (200), refuses a trailing slash or a directory (400)', async () => {
    expect((await owner('/v1/files/put/p.bin', { method: 'PUT', body: 'v1' })).status).toBe(201);
    expect((await owner('/v1/files/put/p.bin', { method: 'PUT', body: 'version-2' })).status).toBe(200);
    expect(readFileSync(await onDisk('put/p.bin'), 'utf8')).toBe('version-2');
    // The replaced version's bytes are released after the commit.
    expect(await eventually(() => unreferencedBlobKeys(db, node.rootPath ?? ''), (keys) => keys.length === 0, 3000)).toEqual([]);
    const slash = await owner('/v1/files/put/q/', { method: 'PUT', body: 'x' });
    expect(slash.status).toBe(400);
    expect((await slash.json()).code).toBe('IS_A_DIRECTORY');
    expect((await owner('/v1/files/put', { method: 'PUT', body: 'x' })).status).toBe(400);
    expect((await owner('/v1/files/put/empty.txt', { method: 'PUT', body: '' })).status).toBe(201);
    const empty = await owner('/v1/files/put/empty.txt');
    expect(empty.headers.get('content-length')).toBe('0');
    expect(await empty.text()).toBe('');
  });

  it('stores a chunked upload with its real size', async () => {
    const chunks = [Buffer.alloc(70_000, 1), Buffer.alloc(30_000, 2)];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const c of chunks) controller.enqueue(c);
        controller.close();
      },
    });
    const res = await owner('/v1/files/put/chunked.bin', { method: 'PUT', body, duplex: 'half' });
    expect(res.status).toBe(201);
    const head = await owner('/v1/files/put/chunked.bin', { method: 'HEAD' });
    expect(head.headers.get('x-callfs-size')).toBe('100000');
    expect(readFileSync(await onDisk('put/chunked.bin')).equals(Buffer.concat(chunks))).toBe(true);
  });

  it('honours If-None-Match (304) on reads and If-Match / If-None-Match:* (412) on writes', async () => {
    await owner('/v1/files/cond.txt', { method: 'PUT', body: 'v1' });
    const etag = (await owner('/v1/files/cond.txt', { method: 'HEAD' })).headers.get('etag') ?? '';
    expect((await owner('/v1/files/cond.txt', { headers: { 'If-None-Match': etag } })).status).toBe(304);
    const stale = await owner('/v1/files/cond.txt', { method: 'PUT', body: 'v2', headers: { 'If-Match': '"stale"' } });
    expect(stale.status).toBe(412);
    expect(readFileSync(await onDisk('cond.txt'), 'utf8')).toBe('v1');
    expect((await owner('/v1/files/cond.txt', { method: 'PUT', body: 'v2', headers: { 'If-None-Match': '*' } })).status).toBe(412);
    expect((await owner('/v1/files/cond.txt', { method: 'PUT', body: 'v2', headers: { 'If-Match': etag } })).status).toBe(200);
    expect((await owner('/v1/files/cond-new.txt', { method: 'PUT', body: 'n', headers: { 'If-None-Match': '*' } })).status).toBe(201);
  });
});

describe('DELETE', () => {
  beforeAll(async () => {
    for (const p of ['tree/b.txt', 'tree/a.txt', 'tree/sub/c.txt', 'tree/sub/deep/d.txt']) await owner(`/v1/files/${p}`, { method: 'PUT', body: p });
  });

  it('DELETE removes files (204, bytes and row gone), refuses non-empty directories (409) and the root (403)', async () => {
    const stored = await onDisk('tree/sub/deep/d.txt');
    expect(existsSync(stored)).toBe(true);
    expect((await owner('/v1/files/tree/sub/deep/d.txt', { method: 'DELETE' })).status).toBe(204);
    expect(existsSync(stored)).toBe(false);
    expect((await db.query('SELECT 1 FROM inodes WHERE path = $1', ['/tree/sub/deep/d.txt'])).rowCount).toBe(0);
    const notEmpty = await owner('/v1/files/tree/sub', { method: 'DELETE' });
    expect(notEmpty.status).toBe(409);
    expect((await notEmpty.json()).code).toBe('DIRECTORY_NOT_EMPTY');
    expect((await owner('/v1/files/tree/sub/deep', { method: 'DELETE' })).status).toBe(204);
    expect((await owner('/v1/files/', { method: 'DELETE' })).status).toBe(403);
    expect((await owner('/v1/files/tree/missing.txt', { method: 'DELETE' })).status).toBe(404);
  });
});

describe('ownership (CallFS reference §5.4)', () => {
  it('lets others read and create inside, but not overwrite, delete or rename', async () => {
    await owner('/v1/files/own/mine.txt', { method: 'PUT', body: 'mine' });
    expect((await alice('/v1/files/own/mine.txt')).status).toBe(200);
    expect((await alice('/v1/files/own/mine.txt', { method: 'PUT', body: 'hers' })).status).toBe(403);
    expect((await alice('/v1/files/own/mine.txt', { method: 'DELETE' })).status).toBe(403);
    const rename = await alice('/v1/files/own/mine.txt', { method: 'PATCH', body: JSON.stringify({ name: 'x.txt' }) });
    expect(rename.status).toBe(403);
    expect((await rename.json()).code).toBe('PERMISSION_DENIED');
    expect((await alice('/v1/files/own/hers.txt', { method: 'POST', body: 'hers' })).status).toBe(201);
    expect((await alice('/v1/files/own', { method: 'DELETE' })).status).toBe(403);
    expect(readFileSync(await onDisk('own/mine.txt'), 'utf8')).toBe('mine');
  });
});

describe('PATCH rename and move', () => {
  const patch = (path: string, body: unknown, query = '') => owner(`/v1/files/${path}${query}`, { method: 'PATCH', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });

  it('renames in place and moves a directory subtree (rows and bytes)', async () => {
    await owner('/v1/files/mv/a.txt', { method: 'PUT', body: 'A' });
    const renamed = await patch('mv/a.txt', { name: 'b.txt' });
    expect(renamed.status).toBe(200);
    expect(await renamed.text()).toBe('{"path":"/mv/b.txt"}\n');
    expect(readFileSync(await onDisk('mv/b.txt'), 'utf8')).toBe('A');
    await owner('/v1/files/mv/dir/inner/x.txt', { method: 'PUT', body: 'X' });
    const moved = await patch('mv/dir', { destination: '/moved/dir', create_parents: true });
    expect(moved.status).toBe(200);
    expect(readFileSync(await onDisk('moved/dir/inner/x.txt'), 'utf8')).toBe('X');
    expect((await owner('/v1/files/moved/dir/inner/x.txt')).status).toBe(200);
    expect((await owner('/v1/files/mv/dir/inner/x.txt')).status).toBe(404);
    const rows = await db.query("SELECT path FROM inodes WHERE path LIKE '/moved/%' ORDER BY path");
    expect(rows.rows.map((r) => r.path)).toEqual(['/moved/dir', '/moved/dir/inner', '/moved/dir/inner/x.txt']);
  });

  it('applies the overwrite, parent and validation rules', async () => {
    await owner('/v1/files/ow/src.txt', { method: 'PUT', body: 'S' });
    await owner('/v1/files/ow/dst.txt', { method: 'PUT', body: 'D' });
    const clash = await patch('ow/src.txt', { destination: '/ow/dst.txt' });
    expect(clash.status).toBe(409);
    expect((await clash.json()).code).toBe('FILE_ALREADY_EXISTS');
    expect((await patch('ow/src.txt', { destination: '/ow/dst.txt' }, '?overwrite=true')).status).toBe(200);
    expect(readFileSync(await onDisk('ow/dst.txt'), 'utf8')).toBe('S');
    expect((await patch('ow/dst.txt', { destination: '/nowhere/x.txt' })).status).toBe(400);
    expect((await patch('ow/dst.txt', {})).status).toBe(400);
    expect((await patch('ow/dst.txt', { name: 'a', destination: '/b' })).status).toBe(400);
    expect((await patch('ow', { destination: '/ow/inside' })).status).toBe(400);
    const badJson = await patch('ow/dst.txt', '{not json');
    expect(badJson.status).toBe(400);
    expect((await badJson.json()).code).toBe('BAD_REQUEST');
    const canonical = await patch('ow/dst.txt', { destination: '/ow/x/../final.txt' });
    expect(await canonical.json()).toEqual({ path: '/ow/final.txt' });
    expect((await db.query('SELECT 1 FROM inodes WHERE path = $1', ['/ow/final.txt'])).rowCount).toBe(1);
  });
});
