// s3rver 3.7.1 answers HeadBucket through its GET-bucket route (its router serves HEAD with the
// GET handler), so every HeadBucket lists up to 1000 objects, one stat each, and throws the
// listing away. The nodes' readiness check is a HeadBucket (cheap on S3) every second or so, and
// as a rehearsal bucket grows, those listings became most of the stand-in's CPU and stalled the
// PutObjects behind them for hundreds of milliseconds. makeHeadBucketCheap answers a HEAD of a
// bucket that exists (s3rver's own bucketExists check has run before the handler) with 200 and
// no listing, as S3 does.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function makeHeadBucketCheap() {
  const bucketController = require('s3rver/lib/controllers/bucket.js');
  const getBucket = bucketController.getBucket;
  if (getBucket.cheapHead === true) return;
  const patched = async function getBucketOrHead(ctx) {
    if (ctx.method === 'HEAD' && ctx.params.queryMethod === undefined) {
      ctx.status = 200;
      ctx.body = '';
      return;
    }
    return getBucket(ctx);
  };
  patched.cheapHead = true;
  bucketController.getBucket = patched;
}
