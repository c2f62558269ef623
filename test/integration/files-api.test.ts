/**
 * The CallFS file API over real HTTP against a node on real Postgres and Redis with a local-disk
 * backend: status codes, headers, bodies, bytes on disk and rows in Postgres.
 */
import { existsSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../support/postgres-server.js';
import { storedFile, unreferencedBlobKeys } from '../support/stored-bytes.js';
import { eventually } from '../support/wait.js';
import { api, call, KEYS, startTestNode, type TestNode } from '../support/test-node.js';

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

describe('health, auth and common headers', () => {
  it('answers /health without a key, with security headers and the client\'s request id', async () => {
    const res = await call(`${node.url}/health`, { headers: { 'X-Request-ID': 'client-value' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"status":"ok"}');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('x-request-id')).toBe('client-value');
    const fresh = await call(`${node.url}/health`, { headers: { 'X-Request-ID': 'not a valid id' } });
    expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f]{16}$/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('strict-transport-security')).toBeNull();
  });

  it('refuses a missing or wrong key with 401 AUTHENTICATION_FAILED, even on unknown /v1 routes', async () => {
    for (const res of [await api(node.url, null)('/v1/files/x'), await api(node.url, 'wrong-key-0123456789')('/v1/files/x'), await api(node.url, null)('/v1/nope')]) {
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ code: 'AUTHENTICATION_FAILED', message: 'authentication failed' });
    }
  });

  it('accepts the raw key without "Bearer " as CallFS does, and not the internal secret', async () => {
    const raw = await call(`${node.url}/v1/files/`, { headers: { Authorization: KEYS.owner } });
    expect(raw.status).toBe(200);
    const secret = await call(`${node.url}/v1/files/`, { headers: { Authorization: 'Bearer internal-secret-for-tests-0123' } });
    expect(secret.status).toBe(401);
  });

  it('answers unknown routes with 404 JSON and wrong methods with 405 and Allow', async () => {
    const unknown = await owner('/v1/nope');
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).code).toBe('ROUTE_NOT_FOUND');
    const wrong = await owner('/v1/links/generate');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect((await wrong.json()).code).toBe('METHOD_NOT_ALLOWED');
  });
});

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

  it('creates directories with a trailing slash (201, then 200 when it exists) and refuses a file under a file (409)', async () => {
    expect((await owner('/v1/files/dirs/one/', { method: 'POST' })).status).toBe(201);
    expect((await owner('/v1/files/dirs/one/', { method: 'POST' })).status).toBe(200);
    expect((await owner('/v1/files/dirs/f.txt', { method: 'POST', body: 'x' })).status).toBe(201);
    const under = await owner('/v1/files/dirs/f.txt/child.txt', { method: 'POST', body: 'y' });
    expect(under.status).toBe(409);
    expect((await under.json()).code).toBe('PARENT_NOT_DIRECTORY');
    const dirOnFile = await owner('/v1/files/dirs/f.txt/', { method: 'POST' });
    expect(dirOnFile.status).toBe(409);
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

  it('GET serves bytes with the CallFS headers plus ETag, Last-Modified and a Content-Type by extension', async () => {
    await owner('/v1/files/get/report.json', { method: 'PUT', body: '{"a":1}' });
    const res = await owner('/v1/files/get/report.json');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"a":1}');
    expect(res.headers.get('content-length')).toBe('7');
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('x-callfs-type')).toBe('file');
    expect(res.headers.get('x-callfs-size')).toBe('7');
    expect(res.headers.get('x-callfs-mode')).toBe('0644');
    expect(res.headers.get('x-callfs-owner')).toBe('api-user-0');
    expect(res.headers.get('x-callfs-mtime')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(res.headers.get('etag')).toMatch(/^"[0-9a-z-]+"$/);
    expect(res.headers.get('last-modified')).toMatch(/GMT$/);
    const html = await owner('/v1/files/get/page.html', { method: 'PUT', body: '<script>1</script>' });
    expect(html.status).toBe(201);
    expect((await owner('/v1/files/get/page.html', { method: 'HEAD' })).headers.get('content-type')).toBe('application/octet-stream');
  });

  it('HEAD answers the metadata headers with the instance id and no body', async () => {
    await owner('/v1/files/head/h.txt', { method: 'PUT', body: 'abc' });
    const res = await owner('/v1/files/head/h.txt', { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-callfs-instance-id')).toBe('node1');
    expect(res.headers.get('content-length')).toBe('3');
    expect(await res.text()).toBe('');
    const dir = await owner('/v1/files/head', { method: 'HEAD' });
    expect(dir.headers.get('x-callfs-type')).toBe('directory');
    expect(dir.headers.get('x-callfs-size')).toBe('0');
  });

  it('changes X-CallFS-MTime and the ETag when the content is replaced', async () => {
    await owner('/v1/files/mtime.txt', { method: 'PUT', body: 'one' });
    const before = await owner('/v1/files/mtime.txt', { method: 'HEAD' });
    await new Promise((r) => setTimeout(r, 1100));
    await owner('/v1/files/mtime.txt', { method: 'PUT', body: 'two' });
    const after = await owner('/v1/files/mtime.txt', { method: 'HEAD' });
    expect(after.headers.get('x-callfs-mtime')).not.toBe(before.headers.get('x-callfs-mtime'));
    expect(after.headers.get('etag')).not.toBe(before.headers.get('etag'));
  });

  it('serves ranges (206) and refuses unsatisfiable ones (416 with the size)', async () => {
    await owner('/v1/files/range.txt', { method: 'PUT', body: '0123456789' });
    const part = await owner('/v1/files/range.txt', { headers: { Range: 'bytes=2-5' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 2-5/10');
    expect(await part.text()).toBe('2345');
    const suffix = await owner('/v1/files/range.txt', { headers: { Range: 'bytes=-3' } });
    expect(await suffix.text()).toBe('789');
    const bad = await owner('/v1/files/range.txt', { headers: { Range: 'bytes=50-' } });
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe('bytes */10');
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

describe('directories, listings and DELETE', () => {
  beforeAll(async () => {
    for (const p of ['tree/b.txt', 'tree/a.txt', 'tree/sub/c.txt', 'tree/sub/deep/d.txt']) await owner(`/v1/files/${p}`, { method: 'PUT', body: p });
  });

  it('GET of a directory returns its children as a JSON array, files first', async () => {
    const res = await owner('/v1/files/tree/');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-callfs-type')).toBe('directory');
    const items = (await res.json()) as Array<Record<string, unknown>>;
    expect(items.map((i) => i['name'])).toEqual(['a.txt', 'b.txt', 'sub']);
    expect(Object.keys(items[0] ?? {}).sort()).toEqual(['mode', 'mtime', 'name', 'owner', 'path', 'size', 'type']);
    expect(items[0]).toMatchObject({ path: '/tree/a.txt', type: 'file', size: 10, mode: '0644', owner: 'api-user-0' });
  });

  it('/v1/directories lists one level, or N+1 levels with max_depth=N', async () => {
    const flat = await owner('/v1/directories/tree');
    const flatBody = await flat.json();
    expect(flatBody).toMatchObject({ path: '/tree', type: 'directory', recursive: false, count: 3 });
    expect(flatBody).not.toHaveProperty('max_depth');
    expect(flat.headers.get('x-callfs-count')).toBe('3');
    const depth0 = await (await owner('/v1/directories/tree?recursive=true&max_depth=0')).json();
    expect(depth0.count).toBe(3);
    expect(depth0).not.toHaveProperty('max_depth');
    const depth1 = await (await owner('/v1/directories/tree?recursive=true&max_depth=1')).json();
    expect(depth1.items.map((i: { path: string }) => i.path)).toEqual(['/tree/a.txt', '/tree/b.txt', '/tree/sub', '/tree/sub/c.txt', '/tree/sub/deep']);
    expect(depth1.max_depth).toBe(1);
    const all = await (await owner('/v1/directories/tree?recursive=true')).json();
    expect(all.count).toBe(6);
    const onFile = await owner('/v1/directories/tree/a.txt');
    expect(onFile.status).toBe(400);
    expect((await onFile.json()).code).toBe('NOT_A_DIRECTORY');
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
