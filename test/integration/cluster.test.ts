/**
 * Several nodes on one Postgres and one Redis: a change made through one node is seen by the
 * others on the very next request (cache invalidation over LISTEN/NOTIFY). Forwarding between
 * nodes, which the real services add nothing to, and what `GET /v1/cluster` shows to whom are
 * tested in-process in test/unit/http/cluster-forwarding.test.ts.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../scripts/local-services/postgres.js';
import { api, startTestNode, type TestNode } from '../support/test-node.js';

let s3a: TestNode;
let s3b: TestNode;

beforeAll(async () => {
  const dsn = await createTestDatabase(inject('pgAdminUrl'));
  const redisUrl = inject('redisUrl');
  const s3 = inject('s3');
  const bucket = `cluster-${Date.now().toString(36)}`;
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  client.destroy();
  const s3Options = { ...s3, bucket };
  s3a = await startTestNode({ dsn, redisUrl, instanceId: 's3a', s3: s3Options });
  s3b = await startTestNode({ dsn, redisUrl, instanceId: 's3b', s3: s3Options });
});

afterAll(async () => {
  await Promise.all([s3a.close(), s3b.close()]);
});

describe('metadata cache coherence across nodes', () => {
  it('a change through one node is seen by another on the next request', async () => {
    const a = api(s3a.url);
    const b = api(s3b.url);
    expect((await a('/v1/files/coherent/doc.txt', { method: 'PUT', body: 'version one' })).status).toBe(201);
    // Warm node B's cache.
    expect((await b('/v1/files/coherent/doc.txt', { method: 'HEAD' })).headers.get('x-callfs-size')).toBe('11');
    expect(await (await b('/v1/files/coherent/doc.txt')).text()).toBe('version one');
    for (let round = 0; round < 40; round++) {
      const content = `version ${round + 2} ${'x'.repeat(round)}`;
      expect((await a('/v1/files/coherent/doc.txt', { method: 'PUT', body: content })).status).toBe(200);
      const seen = await b('/v1/files/coherent/doc.txt');
      expect(seen.headers.get('x-callfs-size')).toBe(String(content.length));
      expect(await seen.text()).toBe(content);
    }
    expect((await a('/v1/files/coherent/doc.txt', { method: 'PATCH', body: JSON.stringify({ name: 'renamed.txt' }) })).status).toBe(200);
    expect((await b('/v1/files/coherent/doc.txt', { method: 'HEAD' })).status).toBe(404);
    expect((await b('/v1/files/coherent/renamed.txt', { method: 'HEAD' })).status).toBe(200);
    expect((await a('/v1/files/coherent/renamed.txt', { method: 'DELETE' })).status).toBe(204);
    expect((await b('/v1/files/coherent/renamed.txt')).status).toBe(404);
  });
});
