/**
 * An S3-compatible server for tests: s3rver in a child process on a free loopback port, objects
 * in a temporary directory. (`--openssl-legacy-provider`: s3rver's continuation tokens use DES.)
 * Known gaps of s3rver: suffix ranges (`bytes=-N`) are wrong (our adapter never sends them), and
 * conditional creates (`If-None-Match: *`) are ignored.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort, stopChild, waitForPort } from './processes.js';

export interface S3Server {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  stop(): Promise<void>;
  createBucket(name: string): Promise<void>;
}

export async function startS3(): Promise<S3Server> {
  const port = await freePort();
  const directory = mkdtempSync(join(tmpdir(), 'callfs-s3-'));
  const runner = fileURLToPath(new URL('./s3rver-main.mjs', import.meta.url));
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', runner, String(port), directory], { stdio: 'ignore' });
  await waitForPort(port);
  const endpoint = `http://127.0.0.1:${port}`;
  const server: S3Server = {
    endpoint,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    stop: async () => {
      await stopChild(child);
      rmSync(directory, { recursive: true, force: true });
    },
    createBucket: async (name: string) => {
      const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
      try {
        await client.send(new CreateBucketCommand({ Bucket: name }));
      } finally {
        client.destroy();
      }
    },
  };
  return server;
}
