// The S3-compatible server of every local setup (the tests, the rehearsal's regions): s3rver
// storing objects on disk, with PUTs made atomic and acknowledged only once stored (see
// s3rver-atomic.mjs), and BUCKET created at start when given.
// Usage: node --openssl-legacy-provider s3rver-main.mjs ADDRESS PORT DIRECTORY [BUCKET]
// (--openssl-legacy-provider: s3rver's listing continuation tokens use DES.)
import S3rver from 's3rver';
import { makePutsAtomic } from './s3rver-atomic.mjs';

const [address, port, directory, bucket] = process.argv.slice(2);
const server = new S3rver({ address, port: Number(port), directory, silent: true, resetOnClose: false, ...(bucket ? { configureBuckets: [{ name: bucket }] } : {}) });
makePutsAtomic(server);
await server.run();
process.stdout.write(`s3rver ready on ${address}:${port}${bucket ? `, bucket ${bucket}` : ''}\n`);
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
