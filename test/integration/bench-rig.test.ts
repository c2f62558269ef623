/**
 * `npm run bench` carries its own rig (scripts/bench/): the bare node:http baseline and the
 * undici proxy hop start and serve files, the load drivers move real bytes, and without wrk the
 * bench prints the install line and exits 2 instead of installing anything.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baselineCommand, missingTools } from '../../scripts/bench/rig.js';
import { freePort, stopChild, waitForPort } from '../../scripts/local-services/processes.js';
import { eventually } from '../support/wait.js';

const repoRoot = new URL('../../', import.meta.url).pathname;
const KEY = 'bench-rig-test-key';
const auth = { Authorization: `Bearer ${KEY}` };

function run(command: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const [file = '', ...args] = command;
    execFile(file, args, { cwd: repoRoot, env: { ...process.env, NODE_OPTIONS: '', ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

describe('the bench rig', () => {
  let dir: string;
  let data: string;
  let nodeHttp: ChildProcess;
  let proxy: ChildProcess;
  let nodeHttpUrl: string;
  let proxyUrl: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bench-rig-'));
    data = join(dir, 'files');
    const basePort = await freePort();
    const proxyPort = await freePort();
    nodeHttpUrl = `http://127.0.0.1:${basePort}`;
    proxyUrl = `http://127.0.0.1:${proxyPort}`;
    const [node = '', ...baseArgs] = baselineCommand('node-http');
    nodeHttp = spawn(node, baseArgs, { env: { ...process.env, PORT: String(basePort), DATA_DIR: data, API_KEY: KEY }, stdio: 'ignore' });
    const [, ...proxyArgs] = baselineCommand('undici-proxy');
    proxy = spawn(node, proxyArgs, { env: { ...process.env, PORT: String(proxyPort), ORIGIN: nodeHttpUrl, API_KEY: KEY }, stdio: 'ignore' });
    await waitForPort(basePort, 30_000);
    await waitForPort(proxyPort, 30_000);
  }, 60_000);

  afterAll(async () => {
    if (proxy !== undefined) await stopChild(proxy);
    if (nodeHttp !== undefined) await stopChild(nodeHttp);
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['bare node:http', () => nodeHttpUrl],
    ['undici proxy hop', () => proxyUrl],
  ])('%s stores a 4 KiB PUT on disk, returns it on GET and refuses a wrong key', async (name, urlOf) => {
    const body = randomBytes(4096);
    const path = `via-${name.replace(/\W+/g, '-')}/f.bin`;
    const put = await fetch(`${urlOf()}/v1/files/${path}`, { method: 'PUT', headers: auth, body, signal: AbortSignal.timeout(10_000) });
    expect(put.status).toBe(201);
    expect(readFileSync(join(data, path)).equals(body)).toBe(true);

    const get = await fetch(`${urlOf()}/v1/files/${path}`, { headers: auth, signal: AbortSignal.timeout(10_000) });
    expect(get.status).toBe(200);
    expect(get.headers.get('content-length')).toBe('4096');
    expect(Buffer.from(await get.arrayBuffer()).equals(body)).toBe(true);

    const wrongKey = await fetch(`${urlOf()}/v1/files/${path}`, { headers: { Authorization: 'Bearer nope' }, signal: AbortSignal.timeout(10_000) });
    expect(wrongKey.status).toBe(401);
    await wrongKey.body?.cancel();
    const missing = await fetch(`${urlOf()}/v1/files/${path}.absent`, { headers: auth, signal: AbortSignal.timeout(10_000) });
    expect(missing.status).toBe(404);
    await missing.body?.cancel();
  });

  it('large-load downloads through the proxy and uploads whole bodies, counting the bytes', async () => {
    const size = 1 << 20;
    const put = await fetch(`${proxyUrl}/v1/files/large/source.bin`, { method: 'PUT', headers: auth, body: randomBytes(size), signal: AbortSignal.timeout(10_000) });
    expect(put.status).toBe(201);
    const driver = [process.execPath, '--import', 'tsx', join(repoRoot, 'scripts/bench/large-load.ts')];

    const get = await run([...driver, 'GET', proxyUrl, '/v1/files/large/source.bin', '2', '1', '0'], { BENCH_AUTH: `Bearer ${KEY}` });
    expect(get.code).toBe(0);
    const got = JSON.parse(get.stdout) as { requests: number; bytes: number; errors: number };
    expect(got.errors).toBe(0);
    expect(got.requests).toBeGreaterThan(0);
    expect(got.bytes).toBeGreaterThanOrEqual(got.requests * size);

    const sent = await run([...driver, 'PUT', nodeHttpUrl, '/v1/files/large/up-%d.bin', '2', '1', String(size)], { BENCH_AUTH: `Bearer ${KEY}` });
    expect(sent.code).toBe(0);
    const up = JSON.parse(sent.stdout) as { requests: number; bytes: number; errors: number };
    expect(up.errors).toBe(0);
    expect(up.requests).toBeGreaterThan(0);
    // Each connection replaces its own file, always with the whole body. The driver stops with
    // uploads in flight; the server removes their temp files once it sees the connections close.
    const large = await eventually(async () => readdirSync(join(data, 'large')).filter((f) => f.startsWith('up-')).sort(), (names) => !names.some((f) => f.includes('.part-')), 10_000);
    expect(large).toEqual(['up-0.bin', 'up-1.bin']);
    expect(statSync(join(data, 'large/up-0.bin')).size).toBe(size);
  });

  it.skipIf(missingTools([['wrk', 'wrk']]).length > 0)('wrk with the rig script PUTs 4 KiB bodies over the cycled paths', async () => {
    const result = await run(['wrk', '-t1', '-c2', '-d1s', '-s', join(repoRoot, 'scripts/bench/wrk.lua'), nodeHttpUrl], {
      BENCH_METHOD: 'PUT',
      BENCH_AUTH: `Bearer ${KEY}`,
      BENCH_PATHS: '/v1/files/small/f%d.bin',
      BENCH_COUNT: '4',
      BENCH_BODY: '4096',
    });
    expect(result.code).toBe(0);
    const line = JSON.parse(result.stdout.split('\n').filter((l) => l.startsWith('{')).pop() ?? '{}') as { requests?: number; errors?: number };
    expect(line.requests).toBeGreaterThan(0);
    expect(line.errors).toBe(0);
    // wrk stops with requests in flight; their temp files go once the server sees the close.
    const small = await eventually(async () => readdirSync(join(data, 'small')).sort(), (names) => !names.some((f) => f.includes('.part-')), 10_000);
    expect(small).toEqual(['f0.bin', 'f1.bin', 'f2.bin', 'f3.bin']);
    expect(statSync(join(data, 'small/f3.bin')).size).toBe(4096);
  });
});

describe('npm run bench without wrk', () => {
  it('prints the install line and exits 2 before starting anything', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'bench-no-tools-'));
    try {
      const result = await run([process.execPath, '--import', 'tsx', join(repoRoot, 'scripts/bench.ts')], { PATH: empty });
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim()).toBe('bench: missing wrk, taskset; install with: sudo apt-get install -y wrk util-linux');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
