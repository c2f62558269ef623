/**
 * S3 across regions: each region has its own bucket, replicated asynchronously (here by copying
 * objects the way bucket replication does, user metadata included). A node reading a file whose
 * copy has not reached its region's bucket yet, or whose copy is an older version, reads through
 * to the bucket of the region the file was written in, and says so.
 */
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../scripts/local-services/postgres.js';
import { storedFile } from '../support/stored-bytes.js';
import { freePort } from '../../scripts/local-services/processes.js';
import { api, startTestNode, type TestNode } from '../support/test-node.js';

let eu: TestNode;
let us: TestNode;
let client: S3Client;
const suffix = Date.now().toString(36);
const buckets = { eu: `geo-eu-${suffix}`, us: `geo-us-${suffix}` };

let dsn: string;

/** What bucket replication does: the object of `path`'s current version and its user metadata, copied to the other bucket. */
async function replicate(path: string, from: string, to: string): Promise<void> {
  // The object's key is the version's blob key (the versioned layout), or the path for legacy entries.
  const key = await storedFile(dsn, '', path);
  const source = await client.send(new GetObjectCommand({ Bucket: from, Key: key }));
  const body = Buffer.from(await source.Body!.transformToByteArray());
  await client.send(new PutObjectCommand({ Bucket: to, Key: key, Body: body, Metadata: source.Metadata }));
}

beforeAll(async () => {
  const s3 = inject('s3');
  client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
  for (const bucket of Object.values(buckets)) await client.send(new CreateBucketCommand({ Bucket: bucket }));
  dsn = await createTestDatabase(inject('pgAdminUrl'));
  const [pe, pu] = [await freePort(), await freePort()];
  const regionBucket = (bucket: string) => ({ bucket, region: s3.region, endpoint: s3.endpoint });
  eu = await startTestNode({
    dsn, instanceId: 'geo-eu', region: 'eu', port: pe, peers: { 'geo-us': `http://127.0.0.1:${pu}` }, peerRegions: { 'geo-us': 'us' },
    s3: { ...s3, bucket: buckets.eu }, s3RegionBuckets: { us: regionBucket(buckets.us) },
  });
  us = await startTestNode({
    dsn, instanceId: 'geo-us', region: 'us', port: pu, peers: { 'geo-eu': `http://127.0.0.1:${pe}` }, peerRegions: { 'geo-eu': 'eu' },
    s3: { ...s3, bucket: buckets.us }, s3RegionBuckets: { eu: regionBucket(buckets.eu) },
  });
});

afterAll(async () => {
  await Promise.all([eu?.close(), us?.close()]);
  client?.destroy();
});

describe('reading S3 files written in another region', () => {
  it('reads through to the origin bucket while the copy has not arrived', async () => {
    expect((await api(eu.url)('/v1/files/geo/doc.txt', { method: 'PUT', body: 'written in eu' })).status).toBe(201);
    const read = await api(us.url)('/v1/files/geo/doc.txt');
    expect(read.status).toBe(200);
    expect(await read.text()).toBe('written in eu');
    expect(read.headers.get('x-callfs-read-through')).toBe('eu');
    expect(read.headers.get('x-callfs-region-hops')).toBe('1');
    expect(read.headers.get('x-callfs-served-by')).toBe('geo-us; region=us');
    const part = await api(us.url)('/v1/files/geo/doc.txt', { headers: { Range: 'bytes=11-12' } });
    expect(part.status).toBe(206);
    expect(await part.text()).toBe('eu');
  });

  it('serves its own region’s copy once replication has delivered it', async () => {
    await replicate('geo/doc.txt', buckets.eu, buckets.us);
    const read = await api(us.url)('/v1/files/geo/doc.txt');
    expect(read.status).toBe(200);
    expect(await read.text()).toBe('written in eu');
    expect(read.headers.get('x-callfs-read-through')).toBeNull();
    expect(read.headers.get('x-callfs-region-hops')).toBe('0');
  });

  it('never serves an older copy: a newer version reads through until it is replicated', async () => {
    expect((await api(eu.url)('/v1/files/geo/doc.txt', { method: 'PUT', body: 'second version' })).status).toBe(200);
    const read = await api(us.url)('/v1/files/geo/doc.txt');
    expect(await read.text()).toBe('second version');
    expect(read.headers.get('x-callfs-read-through')).toBe('eu');
    await replicate('geo/doc.txt', buckets.eu, buckets.us);
    const local = await api(us.url)('/v1/files/geo/doc.txt');
    expect(await local.text()).toBe('second version');
    expect(local.headers.get('x-callfs-read-through')).toBeNull();
  });

  it('files written in the reader’s own region never read through', async () => {
    expect((await api(us.url)('/v1/files/geo/local.txt', { method: 'PUT', body: 'us only' })).status).toBe(201);
    const read = await api(us.url)('/v1/files/geo/local.txt');
    expect(await read.text()).toBe('us only');
    expect(read.headers.get('x-callfs-read-through')).toBeNull();
  });
});
