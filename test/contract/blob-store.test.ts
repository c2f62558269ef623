import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
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

describe('S3 stand-in specifics', () => {
  it('answers HeadBucket (the readiness ping) for a bucket that exists, refuses one that does not, and still lists on GET', async () => {
    const s3 = inject('s3');
    const bucket = `head-${process.pid}-${Date.now().toString(36)}`;
    const { S3Client, CreateBucketCommand, HeadBucketCommand, ListObjectsV2Command } = await import('@aws-sdk/client-s3');
    const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      const options = { bucket, region: s3.region, endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, serverSideEncryption: null, kmsKeyId: null, acl: null };
      const store = new S3BlobStore(options);
      for (const key of ['a.txt', 'b/c.txt']) await store.write(key, Readable.from([Buffer.from(key)]), { exclusive: false });
      const head = await client.send(new HeadBucketCommand({ Bucket: bucket }));
      expect(head.$metadata.httpStatusCode).toBe(200);
      await store.ping();
      const missing = new S3BlobStore({ ...options, bucket: `${bucket}-missing` });
      await expect(missing.ping()).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual(['a.txt', 'b/c.txt']);
      await store.close();
      await missing.close();
    } finally {
      client.destroy();
    }
  });
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

  it('creates its temporary files 0600, before a single byte is in them', async () => {
    const rootPath = mkdtempSync(join(tmpdir(), 'callfs-blob-'));
    const store = new LocalFsBlobStore({ rootPath });
    const body = new PassThrough();
    const writing = store.write('modes/file.bin', body, { exclusive: false });
    let temp: string | undefined;
    for (let i = 0; i < 100 && temp === undefined; i++) {
      await new Promise((r) => setTimeout(r, 10));
      temp = existsSync(join(rootPath, 'modes')) ? readdirSync(join(rootPath, 'modes')).find((n) => n.startsWith('.callfs-tmp-')) : undefined;
    }
    expect(temp).toBeDefined();
    expect(statSync(join(rootPath, 'modes', temp ?? '')).mode & 0o777).toBe(0o600);
    expect(statSync(join(rootPath, 'modes')).mode & 0o777).toBe(0o700);
    body.end('done');
    await writing;
    expect(statSync(join(rootPath, 'modes', 'file.bin')).mode & 0o777).toBe(0o600);
    await store.close();
  });

  it('checks a kept blob directory before every use: moved away or swapped for a link, it is dropped', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'callfs-outside-'));
    const rootPath = mkdtempSync(join(tmpdir(), 'callfs-blob-'));
    const store = new LocalFsBlobStore({ rootPath });
    const key = (id: string): string => `.callfs/blobs/ab/${id.repeat(32)}`;
    const dir = join(rootPath, '.callfs', 'blobs', 'ab');
    const fresh = { exclusive: true, fresh: true } as const;
    await store.write(key('1'), Readable.from([Buffer.from('one')]), fresh);
    // Moved out of the root (same file system): the next write creates the directory anew inside.
    renameSync(dir, join(outside, 'moved'));
    await store.write(key('2'), Readable.from([Buffer.from('two')]), fresh);
    expect(readdirSync(join(outside, 'moved'))).toEqual(['1'.repeat(32)]);
    expect(readFileSync(join(dir, '2'.repeat(32)), 'utf8')).toBe('two');
    // Swapped for a link to the outside: refused, and nothing lands or goes outside.
    renameSync(dir, join(rootPath, 'parked'));
    symlinkSync(join(outside, 'moved'), dir);
    await expect(store.write(key('3'), Readable.from([Buffer.from('three')]), fresh)).rejects.toMatchObject({ code: 'INVALID_PATH' });
    await expect(store.delete(key('1'))).rejects.toMatchObject({ code: 'INVALID_PATH' });
    expect(readdirSync(join(outside, 'moved'))).toEqual(['1'.repeat(32)]);
    await store.close();
  });

  it('checks every directory at every operation: a swap after use is refused, deep in the tree too', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'callfs-outside-'));
    const rootPath = mkdtempSync(join(tmpdir(), 'callfs-blob-'));
    const store = new LocalFsBlobStore({ rootPath });
    await store.write('a/b/c/used.txt', Readable.from([Buffer.from('inside')]), { exclusive: false });
    expect((await readAll((await store.read('a/b/c/used.txt')).stream)).toString()).toBe('inside');
    mkdirSync(join(outside, 'c'));
    writeFileSync(join(outside, 'c', 'used.txt'), 'outside');
    renameSync(join(rootPath, 'a', 'b'), join(rootPath, 'a', 'b-moved'));
    symlinkSync(outside, join(rootPath, 'a', 'b'));
    await expect(store.read('a/b/c/used.txt')).rejects.toMatchObject({ code: 'INVALID_PATH' });
    await expect(store.write('a/b/c/new.txt', Readable.from([Buffer.from('x')]), { exclusive: false })).rejects.toMatchObject({ code: 'INVALID_PATH' });
    await expect(store.write('a/b/new-dir/new.txt', Readable.from([Buffer.from('x')]), { exclusive: false })).rejects.toMatchObject({ code: 'INVALID_PATH' });
    await expect(store.delete('a/b/c/used.txt')).rejects.toMatchObject({ code: 'INVALID_PATH' });
    await expect(store.move('a/b/c/used.txt', 'stolen.txt')).rejects.toMatchObject({ code: 'INVALID_PATH' });
    await expect(store.makeDirectory('a/b/c/sub')).rejects.toMatchObject({ code: 'INVALID_PATH' });
    expect(readdirSync(outside)).toEqual(['c']);
    expect(readdirSync(join(outside, 'c'))).toEqual(['used.txt']);
    expect(readFileSync(join(outside, 'c', 'used.txt'), 'utf8')).toBe('outside');
    await store.close();
  });

  it('stores and reads keys whose full path on disk is longer than PATH_MAX', async () => {
    let rootPath = mkdtempSync(join(tmpdir(), 'callfs-blob-'));
    for (let i = 0; i < 14; i++) rootPath = join(rootPath, `${'r'.repeat(250)}${i}`);
    mkdirSync(rootPath, { recursive: true });
    const store = new LocalFsBlobStore({ rootPath });
    const key = `${'k'.repeat(250)}/${'l'.repeat(250)}/${'m'.repeat(250)}/file.txt`;
    expect(rootPath.length + key.length).toBeGreaterThan(4096);
    await store.write(key, Readable.from([Buffer.from('deep')]), { exclusive: false });
    expect((await readAll((await store.read(key)).stream)).toString()).toBe('deep');
    await store.delete(key);
    await expect(store.read(key)).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    await store.close();
  });
});

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
