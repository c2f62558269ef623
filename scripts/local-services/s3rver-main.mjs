// The S3-compatible server of every local setup (the tests, the rehearsal's regions): s3rver
// storing objects on disk, with PUTs made atomic and acknowledged only once stored (see
// s3rver-atomic.mjs), HeadBucket answered without listing the bucket (see s3rver-head-bucket.mjs),
// and BUCKET created at start when given.
// Usage: node --openssl-legacy-provider s3rver-main.mjs ADDRESS PORT DIRECTORY [BUCKET]
// (--openssl-legacy-provider: s3rver's listing continuation tokens use DES.)
// With S3RVER_CREATED_LOG=FILE, every object stored (put, post, copy, completed multipart) is
// appended to FILE as one JSON line {"bucket","key"} once it is stored: the rehearsal's bucket
// replicator reads it instead of listing the whole bucket every round.
import { openSync, writeSync } from 'node:fs';
import S3rver from 's3rver';
import { makePutsAtomic } from './s3rver-atomic.mjs';
import { makeHeadBucketCheap } from './s3rver-head-bucket.mjs';

const [address, port, directory, bucket] = process.argv.slice(2);
const server = new S3rver({ address, port: Number(port), directory, silent: true, resetOnClose: false, ...(bucket ? { configureBuckets: [{ name: bucket }] } : {}) });
makePutsAtomic(server);
makeHeadBucketCheap();
const createdLog = process.env['S3RVER_CREATED_LOG'];
if (createdLog) {
  const fd = openSync(createdLog, 'a');
  server.on('event', (event) => {
    for (const record of event?.Records ?? []) {
      if (!String(record.eventName ?? '').startsWith('ObjectCreated:')) continue;
      writeSync(fd, JSON.stringify({ bucket: record.s3?.bucket?.name, key: record.s3?.object?.key }) + '\n');
    }
  });
}
await server.run();
process.stdout.write(`s3rver ready on ${address}:${port}${bucket ? `, bucket ${bucket}` : ''}\n`);
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
