/**
 * Large local-disk reads stream through reused buffers (ports/blob-store.ts RecyclingReadable,
 * http/body.ts sendRecycling): a buffer goes back to the reader only once the socket has written
 * it. What a client must never see is a byte of one read inside another: files of several sizes
 * (a 64 KiB one is exactly one read buffer and is then kept in memory) are read whole and in
 * ranges, many at once, with slow and vanishing clients among them, and every body is compared
 * with what was written.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../scripts/local-services/postgres.js';
import { api, startTestNode, type TestNode } from '../support/test-node.js';
import { KEYS } from '../support/test-node.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const files = new Map<string, Buffer>([
  ['/recycle/large.bin', randomBytes(6 * 1024 * 1024 + 123)],
  ['/recycle/second.bin', randomBytes(3 * 1024 * 1024)],
  ['/recycle/exact-64k.bin', randomBytes(64 * 1024)],
  ['/recycle/small.bin', randomBytes(5000)],
]);

let node: TestNode;
beforeAll(async () => {
  node = await startTestNode({ dsn: await createTestDatabase(inject('pgAdminUrl')), redisUrl: inject('redisUrl') });
  for (const [path, bytes] of files) expect((await api(node.url)(`/v1/files${path}`, { method: 'PUT', body: bytes })).status).toBe(201);
});
afterAll(async () => {
  await node?.close();
});

/** GET through a plain socket; `stopAfter` bytes: the client goes away mid-body. Resolves with what arrived. */
function get(path: string, options: { range?: string; stopAfter?: number; slow?: boolean } = {}): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${node.url}/v1/files${path}`);
    const req = request(url, { headers: { Authorization: `Bearer ${KEYS.alice ?? ''}`, ...(options.range ? { Range: options.range } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        if (options.slow === true) {
          res.pause();
          setTimeout(() => res.resume(), 2);
        }
        if (options.stopAfter !== undefined && received >= options.stopAfter) {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', (error) => (options.stopAfter !== undefined ? undefined : reject(error)));
    req.end();
  });
}

describe('reads through reused buffers', () => {
  it('never mix bytes between reads: whole, ranged, slow and abandoned reads at once', async () => {
    const rounds = 3;
    for (let round = 0; round < rounds; round++) {
      const checks: Array<Promise<void>> = [];
      for (const [path, bytes] of files) {
        checks.push(
          get(path).then(({ status, body }) => {
            expect(status).toBe(200);
            expect(sha(body)).toBe(sha(bytes));
          }),
        );
        checks.push(
          get(path, { slow: true }).then(({ status, body }) => {
            expect(status).toBe(200);
            expect(sha(body)).toBe(sha(bytes));
          }),
        );
        const start = Math.floor(bytes.length / 3);
        const end = Math.min(bytes.length - 1, start + 200_000);
        checks.push(
          get(path, { range: `bytes=${start}-${end}` }).then(({ status, body }) => {
            expect(status).toBe(206);
            expect(body.equals(bytes.subarray(start, end + 1))).toBe(true);
          }),
        );
        // A client that leaves mid-body: what it got so far is still the file's own bytes.
        checks.push(
          get(path, { stopAfter: 100_000 }).then(({ body }) => {
            expect(body.equals(bytes.subarray(0, body.length))).toBe(true);
          }),
        );
      }
      await Promise.all(checks);
    }
    // The 64 KiB file is held in memory after its first whole read: still its own bytes.
    const again = await get('/recycle/exact-64k.bin');
    expect(sha(again.body)).toBe(sha(files.get('/recycle/exact-64k.bin') ?? Buffer.alloc(0)));
  });
});
