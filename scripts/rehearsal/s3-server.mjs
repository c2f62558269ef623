// One region's S3-compatible server for the rehearsal: s3rver on the region's service address,
// objects on disk, the region's bucket created at start.
// Usage: node --openssl-legacy-provider s3-server.mjs ADDRESS PORT DIRECTORY BUCKET
// (--openssl-legacy-provider: s3rver's listing continuation tokens use DES.)
import S3rver from 's3rver';
import { makePutsAtomic } from '../../test/support/s3rver-atomic.mjs';

const [address, port, directory, bucket] = process.argv.slice(2);
const server = new S3rver({ address, port: Number(port), directory, silent: true, resetOnClose: false, configureBuckets: [{ name: bucket }] });

// Objects become visible whole, once stored, as on real S3 (s3rver alone writes them in place).
makePutsAtomic(server);

await server.run();
process.stdout.write(`s3rver ready on ${address}:${port}, bucket ${bucket}\n`);
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
