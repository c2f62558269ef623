/**
 * @module The measuring rig of `npm run bench`, all of it in this repository: the tools it
 * needs, the baseline servers (./baselines), the yardstick workloads and their load drivers
 * (wrk with ./wrk.lua for 4 KiB requests, ./large-load.ts for 64 MiB bodies), and the set-up,
 * check and clean-up of the files the workloads use.
 *
 * Workloads (the load runs pinned to core LOAD_CPU, the servers to SERVER_CPU):
 *   get4k   GET one 4 KiB file over 32 keep-alive connections          → req/s, p50/p99
 *   put4k   PUT 4 KiB bodies cycling over 64 files, 32 connections     → req/s, p50/p99
 *   get64m  GET one 64 MiB file over 4 connections                     → MB/s (10^6 bytes/s)
 *   put64m  PUT 64 MiB bodies, one file per connection, 4 connections  → MB/s
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, createReadStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { request } from 'undici';

const HERE = new URL('.', import.meta.url).pathname;

export const SERVER_CPU = '0';
export const LOAD_CPU = '1';
export const ALL_WORKLOADS = ['get4k', 'put4k', 'get64m', 'put64m'] as const;
const SMALL_CONNECTIONS = 32;
const LARGE_CONNECTIONS = 4;
const SMALL_BYTES = 4096;
const LARGE_BYTES = 64 * 1024 * 1024;
/** How many files put4k cycles over. */
const SMALL_FILES = 64;

/** The programs the rig runs, with the Debian package that brings each. */
export const TOOLS: ReadonlyArray<readonly [tool: string, pkg: string]> = [
  ['wrk', 'wrk'],
  ['taskset', 'util-linux'],
];

/** The tools of `tools` that no directory of `path` holds as an executable. */
export function missingTools(tools: ReadonlyArray<readonly [string, string]> = TOOLS, path = process.env['PATH'] ?? ''): Array<readonly [string, string]> {
  const dirs = path.split(delimiter).filter(Boolean);
  return tools.filter(([tool]) =>
    dirs.every((dir) => {
      try {
        accessSync(join(dir, tool), constants.X_OK);
        return false;
      } catch {
        return true;
      }
    }),
  );
}

/** The one line that says what is missing and how to install it, or null when nothing is. */
export function installLine(missing: ReadonlyArray<readonly [string, string]>): string | null {
  if (missing.length === 0) return null;
  const packages = [...new Set(missing.map(([, pkg]) => pkg))].join(' ');
  return `missing ${missing.map(([tool]) => tool).join(', ')}; install with: sudo apt-get install -y ${packages}`;
}

/** The command that runs one of the rig's baseline servers (configured by its environment). */
export function baselineCommand(name: 'node-http' | 'undici-proxy'): string[] {
  return [process.execPath, '--import', 'tsx', join(HERE, 'baselines', `${name}.ts`)];
}

/** A server under test, as the workloads see it. */
export interface Target {
  readonly label: string;
  /** http://127.0.0.1:port */
  readonly url: string;
  readonly key: string;
  /** Directory under /v1/files/ the workloads' files live in. */
  readonly prefix: string;
}

/** One measured run, as written to `<label>.runs.jsonl`. */
export interface RunLine {
  readonly label: string;
  readonly workload: string;
  readonly run: number;
  readonly driver: 'wrk' | 'large-load';
  readonly requests: number;
  readonly seconds: number;
  readonly errors: number;
  readonly rps: number;
  readonly mbps?: number;
  readonly p50_ms?: number;
  readonly p99_ms?: number;
}

const TIMEOUTS = { headersTimeout: 60_000, bodyTimeout: 60_000 } as const;
const filesUrl = (t: Target, path: string): string => `${t.url}/v1/files/${t.prefix}/${path}`;
const authOf = (t: Target): Record<string, string> => ({ authorization: `Bearer ${t.key}` });

/** Local copies of the test bodies (random bytes; only their sizes matter to the load). */
export class Bodies {
  readonly dir = mkdtempSync(join(tmpdir(), 'callfs-bench-bodies-'));
  readonly small = join(this.dir, 'small.bin');
  readonly large = join(this.dir, 'large.bin');

  constructor(withLarge: boolean) {
    writeFileSync(this.small, randomBytes(SMALL_BYTES));
    if (withLarge) {
      const chunk = randomBytes(1 << 20);
      writeFileSync(this.large, Buffer.concat(Array.from({ length: LARGE_BYTES / chunk.length }, () => chunk)));
    }
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Creates or replaces a file from a local file: PUT, or POST when the server wants that. */
async function upload(t: Target, path: string, local: string): Promise<void> {
  const size = statSync(local).size;
  let status = 0;
  for (const method of ['PUT', 'POST'] as const) {
    const res = await request(filesUrl(t, path), {
      method,
      headers: { ...authOf(t), 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: createReadStream(local),
      ...TIMEOUTS,
    });
    await res.body.dump();
    status = res.statusCode;
    if (status !== 404 && status !== 405) break;
  }
  if (status < 200 || status >= 300) throw new Error(`${t.label}: uploading ${path} answered HTTP ${status}`);
}

/** SHA-256 and length of what a GET returns. */
async function fetchDigest(t: Target, path: string): Promise<{ status: number; size: number; digest: string }> {
  const res = await request(filesUrl(t, path), { headers: authOf(t), ...TIMEOUTS });
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { status: res.statusCode, size, digest: hash.digest('hex') };
}

async function localDigest(local: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(local) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}

/** Uploads the files `workloads` use and checks that the server returns the very bytes. */
export async function setUp(t: Target, workloads: readonly string[], bodies: Bodies): Promise<void> {
  const large = workloads.some((w) => w.endsWith('64m'));
  const checks: Array<[string, string]> = [['get-4k.bin', bodies.small]];
  if (large) checks.push(['get-64m.bin', bodies.large]);
  for (const [path, local] of checks) {
    await upload(t, path, local);
    const got = await fetchDigest(t, path);
    if (got.status !== 200 || got.digest !== (await localDigest(local))) throw new Error(`${t.label}: GET ${path} does not return the bytes just uploaded (HTTP ${got.status})`);
  }
  for (let k = 0; k < SMALL_FILES; k++) await upload(t, `put4k/f${k}.bin`, bodies.small);
  if (large) for (let k = 0; k < LARGE_CONNECTIONS; k++) await upload(t, `put64m/f${k}.bin`, bodies.large);
}

/** After the PUT workloads, a file they replaced must still have the right size. */
export async function checkPuts(t: Target, workloads: readonly string[]): Promise<string[]> {
  const warnings: string[] = [];
  const expect = async (path: string, size: number): Promise<void> => {
    const got = await fetchDigest(t, path);
    if (got.status !== 200 || got.size !== size) warnings.push(`${t.label}: after the PUT runs, ${path} answers HTTP ${got.status} with ${got.size} bytes, not ${size}`);
  };
  if (workloads.includes('put4k')) await expect('put4k/f1.bin', SMALL_BYTES);
  if (workloads.includes('put64m')) await expect('put64m/f0.bin', LARGE_BYTES);
  return warnings;
}

/** Deletes the workloads' files, best effort. */
export async function cleanUp(t: Target): Promise<void> {
  const paths = ['get-4k.bin', 'get-64m.bin', ...Array.from({ length: SMALL_FILES }, (_, k) => `put4k/f${k}.bin`), ...Array.from({ length: LARGE_CONNECTIONS }, (_, k) => `put64m/f${k}.bin`)];
  for (const path of paths) {
    try {
      const res = await request(filesUrl(t, path), { method: 'DELETE', headers: authOf(t), ...TIMEOUTS });
      await res.body.dump();
    } catch {
      // best effort: the server's files are in a temp directory that goes away anyway
    }
  }
}

/** Runs `command` pinned to the load core; resolves with its last JSON line (or null) and its stderr. */
function drive(command: string[], env: Record<string, string>, limitMs: number): Promise<{ json: Record<string, number> | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('taskset', ['-c', LOAD_CPU, ...command], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.once('close', () => {
      clearTimeout(timer);
      const line = stdout.split('\n').filter((l) => l.startsWith('{')).pop();
      let json: Record<string, number> | null = null;
      try {
        json = line === undefined ? null : (JSON.parse(line) as Record<string, number>);
      } catch {
        json = null;
      }
      resolve({ json, stderr: stderr + (json === null ? stdout : '') });
    });
  });
}

/**
 * One run of `workload` against `t` for `seconds`. A driver that fails prints its output on
 * stderr and the run counts as zero requests with one error, so the tables show it.
 */
export async function runWorkload(t: Target, workload: string, seconds: number, run: number): Promise<RunLine> {
  const base = `/v1/files/${t.prefix}`;
  const auth = `Bearer ${t.key}`;
  const limit = (seconds + 120) * 1000;
  let result;
  let driver: RunLine['driver'];
  if (workload === 'get4k' || workload === 'put4k') {
    driver = 'wrk';
    const env: Record<string, string> =
      workload === 'get4k'
        ? { BENCH_METHOD: 'GET', BENCH_PATH: `${base}/get-4k.bin` }
        : { BENCH_METHOD: 'PUT', BENCH_PATHS: `${base}/put4k/f%d.bin`, BENCH_COUNT: String(SMALL_FILES), BENCH_BODY: String(SMALL_BYTES) };
    result = await drive(['wrk', '-t1', `-c${SMALL_CONNECTIONS}`, `-d${seconds}s`, '--timeout', '120s', '-s', join(HERE, 'wrk.lua'), t.url], { ...env, BENCH_AUTH: auth }, limit);
  } else if (workload === 'get64m' || workload === 'put64m') {
    driver = 'large-load';
    const [method, path] = workload === 'get64m' ? ['GET', `${base}/get-64m.bin`] : ['PUT', `${base}/put64m/f%d.bin`];
    const command = [process.execPath, '--import', 'tsx', join(HERE, 'large-load.ts'), method, t.url, path, String(LARGE_CONNECTIONS), String(seconds), String(LARGE_BYTES)];
    result = await drive(command, { BENCH_AUTH: auth }, limit);
  } else {
    throw new Error(`unknown workload ${workload} (known: ${ALL_WORKLOADS.join(' ')})`);
  }
  if (result.json === null) process.stderr.write(`${t.label} ${workload}: the load driver gave no result\n${result.stderr}\n`);
  const raw = result.json ?? { requests: 0, duration_us: 1, bytes: 0, errors: 1 };
  const elapsed = (raw['duration_us'] ?? 1) / 1e6;
  const requests = raw['requests'] ?? 0;
  const line: RunLine = {
    label: t.label,
    workload,
    run,
    driver,
    requests,
    seconds: Number(elapsed.toFixed(3)),
    errors: raw['errors'] ?? 0,
    rps: Number((requests / elapsed).toFixed(1)),
    ...(driver === 'large-load' ? { mbps: Number(((raw['bytes'] ?? 0) / elapsed / 1e6).toFixed(1)) } : {}),
    ...(raw['p50_us'] !== undefined ? { p50_ms: (raw['p50_us'] ?? 0) / 1000, p99_ms: (raw['p99_us'] ?? 0) / 1000 } : {}),
  };
  return line;
}
