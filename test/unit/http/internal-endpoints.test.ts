/**
 * The internal surface `/v1/internal/*`: closed to clients (no key or an API key → 401), open to
 * signed peers and, as in CallFS, to the internal secret as a bearer — which still is not a key
 * for the public API. CallFS's shard store answers PUT 201, GET 200/404, DELETE 204, for shard names that are
 * any valid path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMemoryNode } from '../../support/memory-node.js';
import { call, KEYS, SECRETS, type TestNode } from '../../support/test-node.js';

let node: TestNode;
const internal = { Authorization: `Bearer ${SECRETS.internal}` };

beforeAll(async () => {
  node = await startMemoryNode();
});
afterAll(() => node.close());

describe('internal endpoints', () => {
  it('refuse callers without credentials and callers with an ordinary API key', async () => {
    const callers: Array<Record<string, string>> = [{}, { Authorization: `Bearer ${KEYS.owner}` }];
    for (const headers of callers) {
      expect((await call(`${node.url}/v1/internal/shards/ab12/0`, { method: 'PUT', body: 'x', headers })).status).toBe(401);
      expect((await call(`${node.url}/v1/internal/shards/ab12/0`, { headers })).status).toBe(401);
      expect((await call(`${node.url}/v1/internal/shards/ab12/0`, { method: 'DELETE', headers })).status).toBe(401);
      expect((await call(`${node.url}/v1/internal/anything`, { headers })).status).toBe(401);
    }
  });

  it('store, serve and delete shards for the internal secret', async () => {
    const url = `${node.url}/v1/internal/shards/ab12/3`;
    expect((await call(url, { method: 'PUT', body: 'shard bytes', headers: internal })).status).toBe(201);
    const read = await call(url, { headers: internal });
    expect(read.status).toBe(200);
    expect(await read.text()).toBe('shard bytes');
    expect((await call(url, { method: 'DELETE', headers: internal })).status).toBe(204);
    expect((await call(url, { headers: internal })).status).toBe(404);
    expect((await call(url, { method: 'DELETE', headers: internal })).status).toBe(204);
    const post = await call(url, { method: 'POST', body: 'x', headers: internal });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD, PUT, DELETE');
  });

  it('name shards by any valid path, case kept, and refuse names that are not paths or indexes that are not numbers', async () => {
    const put = (address: string, body: string, headers: Record<string, string> = internal) => call(`${node.url}/v1/internal/shards/${address}`, { method: 'PUT', body, headers });
    const get = async (address: string) => {
      const res = await call(`${node.url}/v1/internal/shards/${address}`, { headers: internal });
      return res.status === 200 ? await res.text() : res.status;
    };
    expect((await put('some/file/path/0', 'deep')).status).toBe(201);
    expect((await put('Mixed/Case.bin/1', 'upper')).status).toBe(201);
    expect((await put('mixed/case.bin/1', 'lower')).status).toBe(201);
    // A name that is a prefix of another name, with the longer name's segment equal to an index.
    expect((await put('nested/0', 'outer')).status).toBe(201);
    expect((await put('nested/0/1', 'inner')).status).toBe(201);
    expect((await put('with%20space/2', 'spaced')).status).toBe(201);
    expect(await get('some/file/path/0')).toBe('deep');
    expect(await get('Mixed/Case.bin/1')).toBe('upper');
    expect(await get('mixed/case.bin/1')).toBe('lower');
    expect(await get('nested/0')).toBe('outer');
    expect(await get('nested/0/1')).toBe('inner');
    expect(await get('with%20space/2')).toBe('spaced');
    expect(await get('some/file/path/1')).toBe(404);
    expect((await call(`${node.url}/v1/internal/shards/some/file/path/0`, { method: 'DELETE', headers: internal })).status).toBe(204);
    expect(await get('some/file/path/0')).toBe(404);
    for (const address of ['..%2Fescape/1', 'a%2Fb/1', 'ab/-1', 'ab/1.5', 'ab/x', '0', 'ab/', '.callfs-x/1']) {
      expect((await put(address, 'x')).status, address).toBe(400);
    }
    // Still closed to API keys and anonymous callers.
    expect((await put('some/file/path/0', 'x', { Authorization: `Bearer ${KEYS.owner}` })).status).toBe(401);
    expect((await put('some/file/path/0', 'x', {})).status).toBe(401);
  });

  it('keep shards out of the user namespace, and the secret out of the public API', async () => {
    await call(`${node.url}/v1/internal/shards/cd/1`, { method: 'PUT', body: 'hidden', headers: internal });
    expect((await call(`${node.url}/v1/files/.callfs-shards/cd/1`, { headers: { Authorization: `Bearer ${KEYS.owner}` } })).status).toBe(400);
    expect((await call(`${node.url}/v1/files/`, { headers: internal })).status).toBe(401);
  });
});
