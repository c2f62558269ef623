/**
 * What an operator reads: one access log line per request (method, route template, status,
 * bytes, duration, caller, instance, region, request id; never a key or token), the request id
 * and trace context kept across a peer hop and returned, runtime metrics and build info beside
 * ours, and requests refused before routing labelled with the route they asked for.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../../app/observability/logger.js';
import { createTestDatabase } from '../../scripts/local-services/postgres.js';
import { freePort } from '../../scripts/local-services/processes.js';
import { api, call, KEYS, startTestNode, type TestNode } from '../support/test-node.js';

type Line = Record<string, unknown>;
const linesOf: Record<string, Line[]> = { holder: [], front: [] };
let holder: TestNode;
let front: TestNode;

function capture(name: 'holder' | 'front'): ReturnType<typeof createLogger> {
  return createLogger({ level: 'info', format: 'json', write: (text) => linesOf[name]?.push(JSON.parse(text) as Line) });
}

async function accessLine(name: 'holder' | 'front', requestId: string): Promise<Line> {
  // The line is written when the response ends, just after the client has the last byte.
  for (let i = 0; i < 50; i++) {
    const found = linesOf[name]?.find((l) => l['msg'] === 'request' && l['request_id'] === requestId);
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no access line for ${requestId} on ${name}`);
}

beforeAll(async () => {
  const dsn = await createTestDatabase(inject('pgAdminUrl'));
  const redisUrl = inject('redisUrl');
  const [p1, p2] = [await freePort(), await freePort()];
  holder = await startTestNode({ dsn, redisUrl, instanceId: 'obs-holder', region: 'eu', port: p1, peers: { 'obs-front': `http://127.0.0.1:${p2}` }, logger: capture('holder') });
  front = await startTestNode({ dsn, redisUrl, instanceId: 'obs-front', region: 'us', port: p2, peers: { 'obs-holder': `http://127.0.0.1:${p1}` }, peerRegions: { 'obs-holder': 'eu' }, logger: capture('front') });
});

afterAll(async () => {
  await Promise.all([holder?.close(), front?.close()]);
});

describe('access log and request ids', () => {
  it('writes one line per request with the route template, status, bytes, caller, instance and region', async () => {
    const res = await api(holder.url)('/v1/files/obs/a.txt', { method: 'PUT', body: 'twelve bytes', headers: { 'X-Request-ID': 'client-id-put-1' } });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-request-id')).toBe('client-id-put-1');
    const get = await api(holder.url)('/v1/files/obs/a.txt', { headers: { 'X-Request-ID': 'client-id-get-1' } });
    expect(await get.text()).toBe('twelve bytes');
    const line = await accessLine('holder', 'client-id-get-1');
    expect(line).toMatchObject({ level: 'info', method: 'GET', route: '/v1/files/*', status: 200, bytes: 12, caller: 'api-user-0', instance: 'obs-holder', region: 'eu' });
    expect(typeof line['duration_ms']).toBe('number');
    const text = JSON.stringify(linesOf.holder);
    expect(text).not.toContain(KEYS.owner);
    expect(text).not.toContain('obs/a.txt');
  });

  it('replaces a malformed request id with a fresh one', async () => {
    const res = await api(holder.url)('/v1/files/obs/a.txt', { method: 'HEAD', headers: { 'X-Request-ID': 'has spaces "and quotes"' } });
    const id = res.headers.get('x-request-id') ?? '';
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect((await accessLine('holder', id))['route']).toBe('/v1/files/*');
  });

  it('keeps the request id and traceparent through a peer hop and returns them', async () => {
    await api(holder.url)('/v1/files/obs/held.txt', { method: 'PUT', body: 'held by eu' });
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const res = await api(front.url)('/v1/files/obs/held.txt', { headers: { 'X-Request-ID': 'through-a-peer-1', traceparent } });
    expect(await res.text()).toBe('held by eu');
    expect(res.headers.get('x-callfs-served-by')).toContain('obs-holder');
    expect(res.headers.get('x-request-id')).toBe('through-a-peer-1');
    expect(res.headers.get('traceparent')).toBe(traceparent);
    const atFront = await accessLine('front', 'through-a-peer-1');
    const atHolder = await accessLine('holder', 'through-a-peer-1');
    expect(atFront).toMatchObject({ instance: 'obs-front', region: 'us', status: 200, caller: 'api-user-0', trace_id: '4bf92f3577b34da6a3ce929d0e0e4736' });
    expect(atHolder).toMatchObject({ instance: 'obs-holder', region: 'eu', status: 200, trace_id: '4bf92f3577b34da6a3ce929d0e0e4736' });
    expect(String(atHolder['caller'])).toContain('api-user-0');
  });

  it('names instance and region on every line, not only access lines', () => {
    const started = linesOf.front?.find((l) => l['msg'] === 'node started');
    expect(started).toMatchObject({ instance: 'obs-front', region: 'us' });
  });
});

describe('metrics', () => {
  it('exports runtime metrics and build info beside ours', async () => {
    const text = await (await api(holder.url)('/metrics')).text();
    for (const family of [
      'process_cpu_user_seconds_total',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_open_fds',
      'nodejs_eventloop_lag_seconds',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_gc_duration_seconds',
      'nodejs_active_handles_total',
      'callfs_http_requests_total',
    ]) {
      expect(text).toContain(`# TYPE ${family} `);
    }
    expect(text).toMatch(/^process_open_fds [1-9]\d*$/m);
    expect(text).toMatch(new RegExp(`^callfs_build_info\\{version="[^"]+",node_version="${process.version}",instance="obs-holder",region="eu"\\} 1$`, 'm'));
  });

  it('labels a request refused before routing with the route it asked for', async () => {
    expect((await call(`${holder.url}/v1/files/obs/secret.txt`)).status).toBe(401);
    const text = await (await api(holder.url)('/metrics')).text();
    expect(text).toMatch(/^callfs_http_requests_total\{method="GET",path="\/v1\/files\/\*",status_code="401"\} [1-9]/m);
    expect(text).not.toMatch(/path="unmatched",status_code="401"/);
  });
});
