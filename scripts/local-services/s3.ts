/**
 * @module The S3-compatible server (s3rver in a child process, objects in a directory) of every
 * local setup. `s3ServerCommand` is how each one starts it, on whatever address: the tests on a
 * free loopback port (`startS3`), the rehearsal on each region's service address inside its
 * namespace. Known gaps of s3rver: suffix ranges (`bytes=-N`) are wrong (our adapter never sends
 * them), and conditional creates (`If-None-Match: *`) are ignored.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort, stopChild, waitForPort } from './processes.js';

const RUNNER = fileURLToPath(new URL('./s3rver-main.mjs', import.meta.url));

/** s3rver's fixed credentials (it accepts any signature made with them). */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** The command (program, then arguments) serving `directory` on `address:port`, creating `bucket` at start when given. */
export function s3ServerCommand(address: string, port: number, directory: string, bucket?: string): [string, ...string[]] {
  // --openssl-legacy-provider: s3rver's continuation tokens use DES.
  return [process.execPath, '--openssl-legacy-provider', RUNNER, address, String(port), directory, ...(bucket === undefined ? [] : [bucket])];
}

export interface S3Server {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  stop(): Promise<void>;
  createBucket(name: string): Promise<void>;
}

/** A server on a free loopback port, objects in a temporary directory removed at `stop`. */
export async function startS3(): Promise<S3Server> {
  const port = await freePort();
  const directory = mkdtempSync(join(tmpdir(), 'callfs-s3-'));
  const [command, ...args] = s3ServerCommand('127.0.0.1', port, directory);
  const child: ChildProcess = spawn(command, args, { stdio: 'ignore' });
  await waitForPort(port);
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    region: 'us-east-1',
    ...S3RVER_CREDENTIALS,
    stop: async () => {
      await stopChild(child);
      rmSync(directory, { recursive: true, force: true });
    },
    createBucket: async (name: string) => {
      const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
      try {
        await client.send(new CreateBucketCommand({ Bucket: name }));
      } finally {
        client.destroy();
      }
    },
  };
}
