// s3rver 3.7.1 acknowledges a PutObject before the bytes are on disk (it resolves when its
// checksum pass finishes, not when the file write does) and writes into the final file in place,
// so a GET right after (or during) a PUT can read an empty or half-written object. Real S3 has
// read-after-write consistency and never shows a partial object, and the node relies on that.
// makePutsAtomic replaces the store's putObject with one that writes a side file, waits for it
// to be closed, then renames it over the object and writes its metadata; that commit and every
// read of the same key (GET, HEAD) take turns, so a read never sees new bytes with old metadata
// (or none) half-way through a commit. Used by the tests' and the rehearsal's servers.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Runs `action` alone among the holders of `id`; a nested call for an id already held runs at once. */
function keyLocks() {
  const tails = new Map();
  const held = new AsyncLocalStorage();
  return async (id, action) => {
    const mine = held.getStore() ?? new Set();
    if (mine.has(id)) return action();
    const before = tails.get(id) ?? Promise.resolve();
    let release = () => undefined;
    const turn = new Promise((resolve) => (release = resolve));
    const tail = before.then(() => turn);
    tails.set(id, tail);
    await before;
    try {
      return await held.run(new Set([...mine, id]), action);
    } finally {
      release();
      if (tails.get(id) === tail) tails.delete(id);
    }
  };
}

export function makePutsAtomic(server) {
  const store = server.store;
  const exclusively = keyLocks();
  const getObject = store.getObject.bind(store);
  const getMetadata = store.getMetadata.bind(store);
  // getObject reads the metadata (through store.getMetadata) and opens the file before it resolves.
  store.getObject = (bucket, key, options) => exclusively(`${bucket}/${key}`, () => getObject(bucket, key, options));
  store.getMetadata = (bucket, key) => exclusively(`${bucket}/${key}`, () => getMetadata(bucket, key));
  let sequence = 0;
  store.putObject = async (object) => {
    const target = store.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(dirname(target), { recursive: true });
    const side = `${target}.writing-${process.pid}-${sequence++}`;
    const digest = createHash('md5');
    let size = 0;
    const measure = new Transform({
      transform(chunk, _encoding, next) {
        digest.update(chunk);
        size += chunk.length;
        next(null, chunk);
      },
    });
    try {
      const source = Buffer.isBuffer(object.content) ? [object.content] : object.content;
      await pipeline(source, measure, createWriteStream(side));
    } catch (error) {
      await rm(side, { force: true });
      throw error;
    }
    const md5 = digest.digest('hex');
    await exclusively(`${object.bucket}/${object.key}`, async () => {
      try {
        await rename(side, target);
      } catch (error) {
        await rm(side, { force: true });
        throw error;
      }
      await store.putMetadata(object.bucket, object.key, object.metadata, md5);
    });
    return { size, md5 };
  };
}
