import { existsSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, inject, it } from 'vitest';
import { LocalFsBlobStore } from '../../app/adapters/blob/local-fs.js';
import { S3BlobStore } from '../../app/adapters/blob/s3.js';
import { describeBlobStoreContract } from './blob-store.contract.js';

async function localStore(): Promise<LocalFsBlobStore> {
  const store = new LocalFsBlobStore({ rootPath: mkdtempSync(join(tmpdir(), 'callfs-blob-')) });
  await store.init();
  return store;
}

describeBlobStoreContract('local filesystem', localStore);

let bucketCounter = 0;
describeBlobStoreContract('S3 (s3rver)', async () => {
  const s3 = inject('s3');
  const bucket = `contract-${process.pid}-${Date.now().toString(36)}-${bucketCounter++}`;
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  client.destroy();
  return new S3BlobStore({ bucket, region: s3.region, endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, serverSideEncryption: null, kmsKeyId: null, acl: null, partSizeBytes: 5 * 1024 * 1024 });
});

describe('local filesystem specifics', () => {
  it('refuses to write or read through a symlink that leads outside the root', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'callfs-outside-'));
    writeFileSync(join(outside, 'secret.txt'), 'secret');
    const rootPath = mkdtempSync(join(tmpdir(), 'callfs-blob-'));
    symlinkSync(outside, join(rootPath, 'link'));
    const store = new LocalFsBlobStore({ rootPath });
    await expect(store.write('link/evil.txt', Readable.from([Buffer.from('x')]), { exclusive: false })).rejects.toMatchObject({ code: 'INVALID_PATH' });
    await expect(store.read('link/secret.txt')).rejects.toMatchObject({ code: 'INVALID_PATH' });
    expect(existsSync(join(outside, 'evil.txt'))).toBe(false);
  });

  it('leaves no temporary file behind after a failed write, and sweeps stale ones', async () => {
    const rootPath = mkdtempSync(join(tmpdir(), 'callfs-blob-'));
    const store = new LocalFsBlobStore({ rootPath });
    await store.init();
    await expect(store.write('t/x.bin', Readable.from([Buffer.alloc(5)]), { exclusive: false, expectedSize: 9 })).rejects.toMatchObject({ code: 'INCOMPLETE_BODY' });
    expect(readdirSync(join(rootPath, 't'))).toEqual([]);
    writeFileSync(join(rootPath, 't', '.callfs-tmp-leftover'), 'crash leftover');
    expect(await store.removeStaleTemporaries(new Date(Date.now() - 60_000))).toEqual([]);
    expect(await store.removeStaleTemporaries(new Date(Date.now() + 60_000), { dryRun: true })).toEqual(['t/.callfs-tmp-leftover']);
    expect(readdirSync(join(rootPath, 't'))).toEqual(['.callfs-tmp-leftover']);
    expect(await store.removeStaleTemporaries(new Date(Date.now() + 60_000))).toEqual(['t/.callfs-tmp-leftover']);
    expect(readdirSync(join(rootPath, 't'))).toEqual([]);
  });
});
