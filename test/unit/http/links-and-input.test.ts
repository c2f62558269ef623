/**
 * Single-use links, metrics and input handling on a node built in-process on the memory
 * adapters. Concurrent redemption, rate limits per client address and paths sent raw over a
 * socket stay in test/integration/links-and-input.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMemoryNode } from '../../support/memory-node.js';
import { api, call, KEYS, type TestNode } from '../../support/test-node.js';

let node: TestNode;
let owner: ReturnType<typeof api>;

beforeAll(async () => {
  node = await startMemoryNode({ lockWaitMs: 2000 });
  owner = api(node.url, KEYS.owner);
});

afterAll(async () => {
  await node.close();
});

async function generate(path: string, expiry = 60): Promise<Response> {
  return owner('/v1/links/generate', { method: 'POST', body: JSON.stringify({ path, expiry_seconds: expiry }), headers: { 'Content-Type': 'application/json' } });
}

describe('single-use links', () => {
  it('issues a CallFS-shaped link that downloads the exact bytes once', async () => {
    await owner('/v1/files/links/report%20final.txt', { method: 'PUT', body: 'link bytes' });
    const res = await generate('/links/report final.txt');
    expect(res.status).toBe(201);
    const body = (await res.json()) as { url: string; token: string; expires: string };
    expect(Object.keys(body).sort()).toEqual(['expires', 'token', 'url']);
    expect(body.token).toHaveLength(69);
    expect(body.url).toBe(`http://files.test.example/download/${body.token}`);
    expect(Date.parse(body.expires) - Date.now()).toBeGreaterThan(50_000);
    const first = await call(`${node.url}/download/${body.token}`);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-disposition')).toBe("attachment; filename*=UTF-8''report%20final.txt");
    expect(await first.text()).toBe('link bytes');
    const second = await call(`${node.url}/download/${body.token}`);
    expect(second.status).toBe(410);
    expect((await second.json()).code).toBe('LINK_USED');
  });

  it('validates the request body (expiry range, size limit, JSON)', async () => {
    await owner('/v1/files/links/v.txt', { method: 'PUT', body: 'v' });
    expect((await generate('/links/v.txt', 0)).status).toBe(400);
    expect((await generate('/links/v.txt', 86_401)).status).toBe(400);
    expect((await generate('/links/v.txt', 86_400)).status).toBe(201);
    const huge = await owner('/v1/links/generate', { method: 'POST', body: JSON.stringify({ path: '/links/v.txt', expiry_seconds: 60, pad: 'x'.repeat(5000) }) });
    expect(huge.status).toBe(400);
    expect((await owner('/v1/links/generate', { method: 'POST', body: '{oops' })).status).toBe(400);
    expect((await owner('/v1/links/generate', { method: 'POST', body: '{"expiry_seconds":5}' })).status).toBe(400);
  });
});

describe('metrics', () => {
  it('requires a key and exposes the callfs_* families with the POST series first', async () => {
    expect((await call(`${node.url}/metrics`)).status).toBe(401);
    const firstPost = async (): Promise<number> => {
      const text = await (await owner('/metrics')).text();
      const line = text.split('\n').find((l) => l.startsWith('callfs_http_requests_total{') && l.includes('method="POST"')) ?? '';
      return Number(line.split(' ').pop());
    };
    await owner('/v1/files/metrics/one.txt', { method: 'POST', body: '1' });
    const before = await firstPost();
    await owner('/v1/files/metrics/two.txt', { method: 'POST', body: '2' });
    expect(await firstPost()).toBe(before + 1);
    await owner('/v1/files/metrics/two.txt');
    const text = await (await owner('/metrics')).text();
    const requestLines = text.split('\n').filter((l) => l.startsWith('callfs_http_requests_total{'));
    expect(requestLines[0]).toContain('method="POST"');
    expect(text).toMatch(/callfs_http_request_duration_seconds_count\{method="GET",path="\/v1\/files\/\*"\} \d+/);
    expect(text).toMatch(/callfs_file_operations_total\{operation="create",backend_type="localfs"\} \d+/);
    expect(text).toMatch(/callfs_file_operations_total\{operation="read",backend_type="localfs"\} \d+/);
    expect(text).toContain('callfs_backend_op_duration_seconds');
    expect(text).toMatch(/^callfs_single_use_link_generations_total \d+$/m);
    expect(text).toMatch(/^callfs_active_locks 0$/m);
  });
});

describe('input', () => {
  it('answers malformed JSON with 400 BAD_REQUEST', async () => {
    await owner('/v1/files/json/x.txt', { method: 'PUT', body: 'x' });
    const res = await owner('/v1/files/json/x.txt', { method: 'PATCH', body: '[1,2' });
    expect(res.status).toBe(400);
    expect((await res.json()).code).toBe('BAD_REQUEST');
  });

  it('serializes concurrent writers to one path instead of failing them', async () => {
    const statuses = await Promise.all(Array.from({ length: 6 }, (_, i) => owner('/v1/files/concurrent.txt', { method: 'PUT', body: `writer ${i}` }).then((r) => r.status)));
    expect(statuses.every((s) => s === 200 || s === 201)).toBe(true);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
  });
});
