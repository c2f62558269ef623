// Runs s3rver (an S3-compatible server that stores objects on disk) for the tests, with PUTs made
// atomic and acknowledged only once stored (see s3rver-atomic.mjs).
// Usage: node --openssl-legacy-provider s3rver-main.mjs PORT DIRECTORY
import S3rver from 's3rver';
import { makePutsAtomic } from './s3rver-atomic.mjs';

const [port, directory] = process.argv.slice(2);
const server = new S3rver({ port: Number(port), address: '127.0.0.1', directory, silent: true, resetOnClose: false });
makePutsAtomic(server);
await server.run();
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
