// s3rver 3.7.1 acknowledges a PutObject before the bytes are on disk (it resolves when its
// checksum pass finishes, not when the file write does) and writes into the final file in place,
// so a GET right after (or during) a PUT can read an empty or half-written object. Real S3 has
// read-after-write consistency and never shows a partial object, and the node relies on that.
// makePutsAtomic replaces the store's putObject with one that writes a side file, waits for it
// to be closed, then renames it over the object. Used by the tests' and the rehearsal's servers.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export function makePutsAtomic(server) {
  const store = server.store;
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
      await rename(side, target);
    } catch (error) {
      await rm(side, { force: true });
      throw error;
    }
    const md5 = digest.digest('hex');
    await store.putMetadata(object.bucket, object.key, object.metadata, md5);
    return { size, md5 };
  };
}
