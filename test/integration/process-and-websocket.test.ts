/**
 * The node as users run it: `node --import tsx app/main.ts --config FILE` with a CallFS-style YAML
 * (start, serve, SIGTERM, config errors), and WebSocket transfers on /v1/files/ws/{path}.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { createTestDatabase } from '../../scripts/local-services/postgres.js';
import { freePort, waitForPort } from '../../scripts/local-services/processes.js';
import { storedBlobKeys, storedFile, unreferencedBlobKeys } from '../support/stored-bytes.js';
import { api, KEYS, startTestNode, type TestNode } from '../support/test-node.js';
import { eventually } from '../support/wait.js';

const repoRoot = new URL('../../', import.meta.url).pathname;

function runNode(args: string[]): { done: Promise<{ code: number | null; stderr: string }>; kill: (signal: NodeJS.Signals) => void } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'app/main.ts'), ...args], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
  return { done, kill: (signal) => child.kill(signal) };
}

describe('the node process', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'callfs-proc-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs from a CallFS-style YAML file, serves files and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const dsn = await createTestDatabase(inject('pgAdminUrl'));
    writeFileSync(
      join(dir, 'node1.yaml'),
      [
        'server:',
        `  listen_addr: "127.0.0.1:${port}"`,
        '  protocol: http',
        '  external_url: "http://files.example.test"',
        'auth:',
        `  api_keys: ["${KEYS.owner}"]`,
        '  internal_proxy_secret: "process-test-internal-secret"',
        '  single_use_link_secret: "process-test-link-secret"',
        'metadata_store:',
        `  dsn: "${dsn}"`,
        'dlm:',
        `  redis_addr: "${inject('redisUrl').replace('redis://', '')}"`,
        'backend:',
        '  default_backend: localfs',
        `  localfs_root_path: "${join(dir, 'files')}"`,
        'instance_discovery:',
        '  instance_id: node1',
        '  peer_endpoints: {}',
        'erasure:',
        '  enabled: false',
        'raft:',
        '  enabled: false',
      ].join('\n'),
    );
    const proc = runNode(['--config', join(dir, 'node1.yaml')]);
    await waitForPort(port, 20_000);
    const files = api(`http://127.0.0.1:${port}`);
    expect((await files('/v1/files/proc.txt', { method: 'PUT', body: 'from a process' })).status).toBe(201);
    expect(await (await files('/v1/files/proc.txt')).text()).toBe('from a process');
    proc.kill('SIGTERM');
    const { code } = await proc.done;
    expect(code).toBe(0);
  });

  it.each([
    ['a short API key', 'server:\n  protocol: http\nauth:\n  api_keys: ["short"]\n  internal_proxy_secret: s1\n  single_use_link_secret: s2\nmetadata_store:\n  dsn: postgres://h/db\n', /^config: auth\.api_keys\[0\]: must be at least 16 characters$/],
    ['an unsupported metadata store', `auth:\n  api_keys: ["${KEYS.owner}"]\n  internal_proxy_secret: s1\n  single_use_link_secret: s2\nserver:\n  protocol: http\nmetadata_store:\n  type: sqlite\n`, /^config: metadata_store\.type: "sqlite" is not supported/],
    ['broken YAML', 'server: [unclosed\n', /^config: \/.*\/bad\.yaml: cannot be parsed/],
  ])('stops with exit code 2 and one line naming the key for %s', async (_name, yaml, message) => {
    writeFileSync(join(dir, 'bad.yaml'), yaml);
    const { code, stderr } = await runNode(['--config', join(dir, 'bad.yaml')]).done;
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr.trim()).toMatch(message);
  });

  it('stops with exit code 2 when the --config file does not exist', async () => {
    const { code, stderr } = await runNode(['--config', join(dir, 'missing.yaml')]).done;
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(`config: ${join(dir, 'missing.yaml')}: file not found`);
  });
});

describe('WebSocket transfers', () => {
  let node: TestNode;
  let wsBase: string;
  let dsn: string;
  beforeAll(async () => {
    dsn = await createTestDatabase(inject('pgAdminUrl'));
    node = await startTestNode({ dsn });
    wsBase = node.url.replace('http://', 'ws://');
  });
  afterAll(() => node.close());

  function open(path: string, key: string | null = KEYS.owner): WebSocket {
    return new WebSocket(`${wsBase}/v1/files/ws/${path}`, { headers: key === null ? {} : { Authorization: `Bearer ${key}` } });
  }

  it('uploads binary and text frames, ends with an empty frame and answers ok:<size>', async () => {
    const ws = open('ws-up/a.bin?mode=upload');
    const reply = await new Promise<{ text: string; code: number }>((resolve, reject) => {
      let text = '';
      ws.on('open', () => {
        ws.send(Buffer.from('binary-'));
        ws.send('text');
        ws.send(Buffer.alloc(0));
      });
      ws.on('message', (data) => (text += String(data)));
      ws.on('close', (code) => resolve({ text, code }));
      ws.on('error', reject);
    });
    expect(reply).toEqual({ text: 'ok:11', code: 1000 });
    expect(await (await api(node.url)('/v1/files/ws-up/a.bin')).text()).toBe('binary-text');
  });

  it.each([1000, 1001])('stores nothing when the client closes with %i before the end-of-upload frame', async (code) => {
    const owner = api(node.url);
    expect((await owner(`/v1/files/ws-up/kept-${code}.bin`, { method: 'PUT', body: 'previous content' })).status).toBe(201);
    for (const name of [`kept-${code}.bin`, `new-${code}.bin`]) {
      const ws = open(`ws-up/${name}?mode=upload`);
      await new Promise<void>((resolve, reject) => {
        ws.on('open', () => {
          ws.send(Buffer.from('half an upload'), () => ws.close(code));
        });
        ws.on('close', () => resolve());
        ws.on('error', reject);
      });
    }
    // The server handles the close asynchronously: watch long enough for a commit to show.
    for (let i = 0; i < 20; i++) {
      expect(await (await owner(`/v1/files/ws-up/kept-${code}.bin`)).text()).toBe('previous content');
      expect((await owner(`/v1/files/ws-up/new-${code}.bin`)).status).toBe(404);
      await new Promise((r) => setTimeout(r, 50));
    }
    // On disk: the kept file's bytes, and no blob of either abandoned upload (every stored blob is named by a row).
    const root = node.rootPath ?? '';
    expect(readFileSync(await storedFile(dsn, root, `/ws-up/kept-${code}.bin`), 'utf8')).toBe('previous content');
    const db = new pg.Client({ connectionString: dsn });
    await db.connect();
    try {
      expect(await eventually(() => unreferencedBlobKeys(db, root), (keys) => keys.length === 0)).toEqual([]);
    } finally {
      await db.end();
    }
    expect(storedBlobKeys(root).map((key) => readFileSync(join(root, key), 'utf8'))).not.toContain('half an upload');
  });

  it('downloads a file as binary frames and closes with 1000', async () => {
    const bytes = Buffer.alloc(200_000, 9);
    await api(node.url)('/v1/files/ws-down/b.bin', { method: 'PUT', body: bytes });
    const ws = open('ws-down/b.bin?mode=download');
    const got = await new Promise<{ data: Buffer; code: number }>((resolve, reject) => {
      const parts: Buffer[] = [];
      ws.on('message', (data: Buffer) => parts.push(data));
      ws.on('close', (code) => resolve({ data: Buffer.concat(parts), code }));
      ws.on('error', reject);
    });
    expect(got.code).toBe(1000);
    expect(got.data.equals(bytes)).toBe(true);
  });

  it('refuses the handshake without a key (401), with a bad mode or a trailing slash (400)', async () => {
    const status = (ws: WebSocket) => new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(await status(open('x.bin', null))).toBe(401);
    expect(await status(open('x.bin?mode=sideways'))).toBe(400);
    expect(await status(open('dir/?mode=upload'))).toBe(400);
  });

  it('keeps plain GETs of files under a top-level "ws" directory working', async () => {
    await api(node.url)('/v1/files/ws/plain.txt', { method: 'PUT', body: 'plain' });
    const res = await api(node.url)('/v1/files/ws/plain.txt');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('plain');
  });
});
