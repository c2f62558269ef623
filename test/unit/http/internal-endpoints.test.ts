/**
 * The internal surface `/v1/internal/*`: closed to clients (no key or an API key → 401), open to
 * signed peers and, as in CallFS, to the internal secret as a bearer — which still is not a key
 * for the public API. CallFS's shard store answers PUT 201, GET 200/404, DELETE 204.
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

  it('refuse shard addresses that are not a hex prefix and a number', async () => {
    for (const address of ['..%2Fescape/1', 'zz/1', 'ab/-1', 'ab/1.5']) {
      const res = await call(`${node.url}/v1/internal/shards/${address}`, { method: 'PUT', body: 'x', headers: internal });
      expect(res.status).toBe(400);
    }
  });

  it('keep shards out of the user namespace, and the secret out of the public API', async () => {
    await call(`${node.url}/v1/internal/shards/cd/1`, { method: 'PUT', body: 'hidden', headers: internal });
    expect((await call(`${node.url}/v1/files/.callfs-shards/cd/1`, { headers: { Authorization: `Bearer ${KEYS.owner}` } })).status).toBe(400);
    expect((await call(`${node.url}/v1/files/`, { headers: internal })).status).toBe(401);
  });
});
