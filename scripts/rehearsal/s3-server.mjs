// One region's S3-compatible server for the rehearsal: s3rver on the region's service address,
// objects on disk, the region's bucket created at start.
// Usage: node --openssl-legacy-provider s3-server.mjs ADDRESS PORT DIRECTORY BUCKET
// (--openssl-legacy-provider: s3rver's listing continuation tokens use DES.)
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import S3rver from 's3rver';

const [address, port, directory, bucket] = process.argv.slice(2);
const server = new S3rver({ address, port: Number(port), directory, silent: true, resetOnClose: false, configureBuckets: [{ name: bucket }] });

// s3rver writes an object's bytes straight into place while they arrive, so a GET during a slow
// PUT (a replica crossing the WAN) sees half an object. Real S3 never shows a partial object:
// stage the bytes next to the final file and rename them into place once complete.
const store = server.store;
let staged = 0;
store.putObject = async (object) => {
  const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
  await mkdir(dirname(objectPath), { recursive: true });
  const incoming = `${objectPath}.incoming-${process.pid}-${staged++}`;
  const md5 = createHash('md5');
  let size = 0;
  try {
    const count = new Transform({
      transform(chunk, _encoding, done) {
        md5.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    const source = Buffer.isBuffer(object.content) ? [object.content] : object.content;
    await pipeline(source, count, createWriteStream(incoming));
    await rename(incoming, objectPath);
  } catch (error) {
    await rm(incoming, { force: true });
    throw error;
  }
  const digest = md5.digest('hex');
  await store.putMetadata(object.bucket, object.key, object.metadata, digest);
  return { size, md5: digest };
};

await server.run();
process.stdout.write(`s3rver ready on ${address}:${port}, bucket ${bucket}\n`);
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
