import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type * as NodeFs from 'node:fs';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';

/** fdatasync as the sink calls it: counted, and made to fail on demand (a write-back error). */
const flushes = vi.hoisted(() => ({ count: 0, failNext: false }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof NodeFs>();
  return {
    ...fs,
    fdatasync: (fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
      flushes.count++;
      if (flushes.failNext) {
        flushes.failNext = false;
        setTimeout(() => callback(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })), 5);
        return;
      }
      fs.fdatasync(fd, callback);
    },
  };
});

const { EARLY_SYNC_BYTES, FileSink, pump } = await import('./file-sink.js');

const dir = mkdtempSync(join(tmpdir(), 'file-sink-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => {
  flushes.count = 0;
  flushes.failNext = false;
});

/** `pieces` chunks of 1 MiB, each filled with its index. */
function body(pieces: number): Readable {
  return Readable.from(Array.from({ length: pieces }, (_, i) => Buffer.alloc(1024 * 1024, i)));
}

describe('FileSink', () => {
  it('flushes a large body to the device while it arrives, and writes every byte', async () => {
    const file = join(dir, 'large.bin');
    const pieces = 20;
    const sink = new FileSink(openSync(file, 'wx'), pieces * 1024 * 1024);
    await pump(body(pieces), sink, undefined);
    expect(sink.size).toBe(pieces * 1024 * 1024);
    // At least one began once EARLY_SYNC_BYTES were written (one at a time: more when the device is slower than the body).
    expect(pieces * 1024 * 1024).toBeGreaterThan(EARLY_SYNC_BYTES);
    expect(flushes.count).toBeGreaterThanOrEqual(1);
    const written = readFileSync(file);
    for (let i = 0; i < pieces; i++) expect(written[i * 1024 * 1024 + 1234]).toBe(i);
  });

  it('leaves a small body to the final fsync alone', async () => {
    const sink = new FileSink(openSync(join(dir, 'small.bin'), 'wx'), 4096);
    await pump(Readable.from([Buffer.alloc(4096, 7)]), sink, undefined);
    expect(flushes.count).toBe(0);
  });

  it('fails the file when a background flush failed, though the final fsync succeeds', async () => {
    flushes.failNext = true;
    const sink = new FileSink(openSync(join(dir, 'failed.bin'), 'wx'), 12 * 1024 * 1024);
    await expect(pump(body(12), sink, undefined)).rejects.toMatchObject({ code: 'EIO' });
    expect(flushes.count).toBeGreaterThanOrEqual(1);
  });
});
