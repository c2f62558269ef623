/**
 * The CallFS file API on one node built in-process on the memory adapters (app.request(), no
 * services): auth and common headers, creating, reading, ranges, validators and listings. What
 * needs the real services (rows in Postgres, bytes on disk) stays in
 * test/integration/files-api.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMemoryNode } from '../../support/memory-node.js';
import { api, call, KEYS, type TestNode } from '../../support/test-node.js';

let node: TestNode;
let owner: ReturnType<typeof api>;

beforeAll(async () => {
  node = await startMemoryNode();
  owner = api(node.url, KEYS.owner);
});

afterAll(async () => {
  await node.close();
});

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

  it('says where a file write\'s time went (Server-Timing: store, commit, handler), and nothing of the kind for a directory', async () => {
    const parse = (header: string | null): Record<string, number> =>
      Object.fromEntries((header ?? '').split(',').map((part) => part.trim().split(';dur=')).map(([name, dur]) => [name, Number(dur)]));
    for (const [method, status] of [['POST', 201], ['PUT', 200]] as const) {
      const res = await owner('/v1/files/timed/a.txt', { method, body: 'timed' });
      expect(res.status).toBe(status);
      const timing = parse(res.headers.get('server-timing'));
      expect(Object.keys(timing)).toEqual(['store', 'commit', 'handler']);
      for (const value of Object.values(timing)) expect(value).toBeGreaterThanOrEqual(0);
      expect(timing['handler']).toBeGreaterThanOrEqual(timing['store']! + timing['commit']! - 0.2);
    }
    const dir = await owner('/v1/files/timed/sub/', { method: 'POST' });
    expect(dir.status).toBe(201);
    expect(dir.headers.get('server-timing')).toBeNull();
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
});

describe('directories and listings', () => {
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
});
