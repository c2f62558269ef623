import { mkdtempSync, readdirSync, readlinkSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newBlobKey } from '../../domain/blob-key.js';
import { LocalFsBlobStore } from './local-fs.js';

/** Descriptors this process holds on paths under `root`; with `filesOnly`, on blob files (not their directories). */
function openUnder(root: string, filesOnly = false): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(root) && (!filesOnly || /\/[0-9a-f]{32}$/.test(target));
    } catch {
      return false;
    }
  }).length;
}
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 50));

describe('kept descriptors of versioned blobs (local disk)', () => {
  let root: string;
  let store: LocalFsBlobStore;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'open-blobs-'));
    store = new LocalFsBlobStore({ rootPath: root });
  });
  afterEach(async () => {
    await store.close();
    rmSync(root, { recursive: true, force: true });
  });

  async function put(body: string | Buffer): Promise<string> {
    const key = newBlobKey();
    await store.write(key, Readable.from([Buffer.from(body)]), { exclusive: true, fresh: true });
    return key;
  }
  const read = async (key: string, range?: { start: number; end: number }): Promise<string> => text((await store.read(key, { range })).stream);

  it('serves whole reads and ranges alike, first and later reads', async () => {
    const key = await put('0123456789');
    for (let round = 0; round < 3; round++) {
      expect(await read(key)).toBe('0123456789');
      expect(await read(key, { start: 2, end: 4 })).toBe('234');
      expect((await store.read(key)).size).toBe(10);
    }
  });

  it('streams a large blob in full through the kept descriptor', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024 + 17, 'x');
    body.write('end', body.length - 3);
    const key = await put(body);
    for (let round = 0; round < 2; round++) {
      const got = await text((await store.read(key)).stream);
      expect(got.length).toBe(body.length);
      expect(got.endsWith('xend')).toBe(true);
    }
  });

  it('answers FILE_NOT_FOUND once the blob is deleted, through the store or behind its back', async () => {
    const key = await put('gone soon');
    expect(await read(key)).toBe('gone soon');
    await store.delete(key);
    await expect(store.read(key)).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });

    const other = await put('removed on disk');
    expect(await read(other)).toBe('removed on disk');
    unlinkSync(join(root, other));
    await expect(store.read(other)).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
  });

  it('does not serve a kept blob once its directory was moved away', async () => {
    const key = await put('inside');
    expect(await read(key)).toBe('inside');
    renameSync(join(root, '.callfs', 'blobs'), join(root, '.callfs', 'blobs-moved'));
    await expect(store.read(key)).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    renameSync(join(root, '.callfs', 'blobs-moved'), join(root, '.callfs', 'blobs'));
    expect(await read(key)).toBe('inside');
  });

  it('closes the descriptors of deleted blobs, and all of them on close', async () => {
    const keys = [await put('a'), await put('b')];
    for (const key of keys) expect(await read(key)).toBe(key === keys[0] ? 'a' : 'b');
    const blobs = join(await realpath(root), '.callfs', 'blobs');
    expect(openUnder(blobs, true)).toBe(2);
    await store.delete(keys[0] ?? '');
    await settle();
    expect(openUnder(blobs, true)).toBe(1);
    // The blob directories are kept open too, and closed with the store.
    expect(openUnder(blobs)).toBeGreaterThan(1);
    await store.close();
    await settle();
    expect(openUnder(blobs)).toBe(0);
  });

  it('keeps a descriptor open for a read in progress when its blob is deleted', async () => {
    const body = Buffer.alloc(2 * 1024 * 1024 + 1, 'y');
    const key = await put(body);
    expect((await text((await store.read(key)).stream)).length).toBe(body.length);
    const { stream } = await store.read(key);
    await store.delete(key);
    expect((await text(stream)).length).toBe(body.length);
  });
});
