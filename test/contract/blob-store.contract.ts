/** The BlobStore port's contract: every adapter must pass these against a real backend. */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { hasCode } from '../../app/errors/app-error.js';
import type { BlobStore } from '../../app/ports/blob-store.js';

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : 'unknown';
  }
}

/** A body that fails after `bytes`. */
function failingBody(bytes: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= bytes) {
        this.destroy(Object.assign(new Error('client went away'), { code: 'ECONNRESET' }));
        return;
      }
      sent += 1024;
      this.push(Buffer.alloc(1024, 1));
    },
  });
}

export function describeBlobStoreContract(name: string, makeStore: () => Promise<BlobStore>): void {
  describe(`BlobStore contract: ${name}`, () => {
    it('round-trips a multi-MiB streamed body and reports its size', async () => {
      const store = await makeStore();
      const data = Buffer.alloc(6 * 1024 * 1024 + 123);
      for (let i = 0; i < data.length; i += 4096) data[i] = i % 251;
      const chunks = [];
      for (let i = 0; i < data.length; i += 65536) chunks.push(data.subarray(i, i + 65536));
      expect(await store.write('dir/big.bin', Readable.from(chunks), { exclusive: false, expectedSize: data.length })).toEqual({ size: data.length });
      const read = await store.read('dir/big.bin');
      expect(read.size).toBe(data.length);
      expect((await readAll(read.stream)).equals(data)).toBe(true);
    });

    it('serves byte ranges', async () => {
      const store = await makeStore();
      await store.write('range.txt', Readable.from([Buffer.from('0123456789')]), { exclusive: false });
      const read = await store.read('range.txt', { range: { start: 3, end: 6 } });
      expect(read.size).toBe(10);
      expect((await readAll(read.stream)).toString()).toBe('3456');
    });

    it('stores zero-byte files and replaces content', async () => {
      const store = await makeStore();
      await store.write('zero', Readable.from([]), { exclusive: false, expectedSize: 0 });
      expect((await readAll((await store.read('zero')).stream)).length).toBe(0);
      await store.write('zero', Readable.from([Buffer.from('now full')]), { exclusive: false });
      expect((await readAll((await store.read('zero')).stream)).toString()).toBe('now full');
    });

    it('refuses an exclusive create over existing bytes', async () => {
      const store = await makeStore();
      await store.write('once.txt', Readable.from([Buffer.from('a')]), { exclusive: true });
      expect(await codeOf(store.write('once.txt', Readable.from([Buffer.from('b')]), { exclusive: true }))).toBe('FILE_ALREADY_EXISTS');
      expect((await readAll((await store.read('once.txt')).stream)).toString()).toBe('a');
    });

    it('leaves nothing visible when the body is shorter or longer than expected, or fails midway', async () => {
      const store = await makeStore();
      expect(await codeOf(store.write('short.bin', Readable.from([Buffer.alloc(10)]), { exclusive: false, expectedSize: 20 }))).toBe('INCOMPLETE_BODY');
      expect(await codeOf(store.write('long.bin', Readable.from([Buffer.alloc(30)]), { exclusive: false, expectedSize: 20 }))).toBe('INCOMPLETE_BODY');
      expect(await codeOf(store.write('broken.bin', failingBody(200 * 1024), { exclusive: false }))).toBe('CLIENT_CLOSED_REQUEST');
      for (const key of ['short.bin', 'long.bin', 'broken.bin']) expect(await codeOf(store.read(key))).toBe('FILE_NOT_FOUND');
    });

    it('keeps the old bytes when a replacement fails', async () => {
      const store = await makeStore();
      await store.write('keep.txt', Readable.from([Buffer.from('old')]), { exclusive: false });
      expect(await codeOf(store.write('keep.txt', failingBody(64 * 1024), { exclusive: false }))).toBe('CLIENT_CLOSED_REQUEST');
      expect((await readAll((await store.read('keep.txt')).stream)).toString()).toBe('old');
    });

    it('moves files and directory subtrees, deletes idempotently, reports missing keys', async () => {
      const store = await makeStore();
      await store.makeDirectory('tree');
      await store.write('tree/a/x.txt', Readable.from([Buffer.from('x')]), { exclusive: false });
      await store.move('tree', 'moved');
      expect((await readAll((await store.read('moved/a/x.txt')).stream)).toString()).toBe('x');
      expect(await codeOf(store.read('tree/a/x.txt'))).toBe('FILE_NOT_FOUND');
      await store.move('moved/a/x.txt', 'moved/y.txt');
      expect((await readAll((await store.read('moved/y.txt')).stream)).toString()).toBe('x');
      await store.delete('moved/y.txt');
      await store.delete('moved/y.txt');
      expect(await codeOf(store.read('moved/y.txt'))).toBe('FILE_NOT_FOUND');
      expect(await codeOf(store.move('nothing-here', 'elsewhere'))).toBe('FILE_NOT_FOUND');
    });

    it('lists stored files under a prefix older than a cut-off, in key order, from a cursor', async () => {
      const store = await makeStore();
      const blobs = ['.callfs/blobs/0a/1b/aaa', '.callfs/blobs/0a/1b/bbb', '.callfs/blobs/0a/2c/ccc', '.callfs/blobs/ff/00/ddd'];
      for (const key of [...blobs].reverse()) await store.write(key, Readable.from([Buffer.from(key)]), { exclusive: false });
      await store.write('listed/one.txt', Readable.from([Buffer.from('1')]), { exclusive: false });
      await store.makeDirectory('.callfs/blobs/ee/empty');
      const later = new Date(Date.now() + 60_000);
      // Only the prefix, never user files or directory markers.
      expect(await store.listFiles('.callfs/blobs/', { olderThan: later, limit: 1000 })).toEqual(blobs);
      expect(await store.listFiles('.callfs/blobs/', { olderThan: later, limit: 2 })).toEqual(blobs.slice(0, 2));
      expect(await store.listFiles('.callfs/blobs/', { olderThan: later, limit: 2, startAfter: blobs[1] })).toEqual(blobs.slice(2));
      expect(await store.listFiles('.callfs/blobs/', { olderThan: later, limit: 10, startAfter: blobs[3] })).toEqual([]);
      expect(await store.listFiles('.callfs/blobs/', { olderThan: new Date(Date.now() - 60_000), limit: 1000 })).toEqual([]);
      expect(await store.listFiles('', { olderThan: later, limit: 1000 })).toContain('listed/one.txt');
      expect(await store.isEmpty()).toBe(false);
      const fresh = await makeStore();
      await fresh.makeDirectory('only/directories');
      expect(await fresh.isEmpty()).toBe(true);
      await store.ping();
      expect(hasCode(undefined, 'FILE_NOT_FOUND')).toBe(false);
    });
  });
}
