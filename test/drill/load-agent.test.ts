/**
 * The drill's load agent as the drill runs it: a real agent process (via `startLoad`, without a
 * namespace) against a real node on loopback. Acknowledged writes must all be readable with their
 * bytes, the JSON lines well-formed, and the agent must stop by itself at its stop file and at its
 * deadline. In-process runs cover what a broken service looks like: unknown outcomes and refusals.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isAcknowledgedWrite, parseAgentOptions, readOpLog, runAgent, sha256, type AgentOptions, type OpRecord } from '../../scripts/drill/load/agent.js';
import { directFetchFile } from '../../scripts/drill/local/fetch-file.js';
import { startLoad } from '../../scripts/drill/load/fleet.js';
import { verifyAcknowledged } from '../../scripts/drill/scorecard.js';
import { createTestDatabase } from '../../scripts/local-services/postgres.js';
import { freePort } from '../../scripts/local-services/processes.js';
import { api, KEYS, startTestNode, type TestNode } from '../support/test-node.js';

const repoRoot = new URL('../../', import.meta.url).pathname;
let node: TestNode;
let dir: string;
/** Through a host name, so the agent resolves it for every request. */
let baseUrl: string;

beforeAll(async () => {
  const dsn = await createTestDatabase(inject('pgAdminUrl'));
  node = await startTestNode({ dsn, instanceId: 'drill-node', region: 'eu' });
  baseUrl = `http://localhost:${node.port}`;
  dir = mkdtempSync(join(tmpdir(), 'load-agent-test-'));
});

afterAll(async () => {
  await node.close();
  rmSync(dir, { recursive: true, force: true });
});

const FIELDS = ['t', 'ms', 'op', 'region', 'path', 'seq', 'status', 'outcome', 'servedBy', 'resolved', 'sha'];

describe('the agent process against a real node', () => {
  it('writes and reads through the hostname until its stop file appears; every acknowledged write is readable', async () => {
    const runId = 'agent-stop-file';
    const started = Date.now();
    const fleet = await startLoad({ clients: [{ region: 'eu', ns: null }, { region: 'us', ns: null }], baseUrl, apiKey: KEYS.owner, runId, dir, writeIntervalMs: 100, readIntervalMs: 80, maxDurationMs: 60_000, requestTimeoutMs: 3000 });
    expect(Object.keys(fleet.pids).sort()).toEqual(['eu', 'us']);
    // Let both agents work for a few seconds (the first seconds are tsx starting up).
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && Object.values(fleet.snapshot()).some((ops) => ops.filter(isAcknowledgedWrite).length < 10)) await new Promise((r) => setTimeout(r, 200));
    const stopAsked = Date.now();
    const ops = await fleet.stop();
    expect(Date.now() - stopAsked).toBeLessThan(3000 + 3000);
    for (const region of ['eu', 'us']) {
      const file = fleet.files[region] ?? '';
      const lines = readFileSync(file, 'utf8').split('\n');
      expect(lines.pop()).toBe(''); // ends with a newline: no torn line
      for (const line of lines) {
        const record = JSON.parse(line) as Record<string, unknown>;
        for (const field of FIELDS) expect(record, `${field} in ${line}`).toHaveProperty(field);
        expect(record['t'] as number).toBeGreaterThanOrEqual(started);
      }
      const regionOps = ops[region] ?? [];
      expect(regionOps).toHaveLength(lines.length);
      const writes = regionOps.filter((o) => o.op === 'write');
      const reads = regionOps.filter((o) => o.op === 'read');
      expect(writes.filter(isAcknowledgedWrite).length).toBeGreaterThanOrEqual(10);
      expect(writes.every((w) => w.status === 201 && w.outcome === 'ok')).toBe(true);
      expect(new Set(writes.map((w) => w.path)).size).toBe(writes.length); // no path written twice
      expect(writes.map((w) => w.seq)).toEqual(writes.map((_, i) => i + 1));
      expect(writes.every((w) => w.path === `/drill/${runId}/${region}/${w.seq}`)).toBe(true);
      expect(reads.length).toBeGreaterThan(5);
      expect(reads.every((r) => r.outcome === 'ok' && r.status === 200)).toBe(true);
      // Reads only ask for files acknowledged before they started.
      for (const read of reads) expect(writes.some((w) => w.path === read.path && w.t + w.ms <= read.t)).toBe(true);
      expect(regionOps.every((o) => o.resolved === '127.0.0.1')).toBe(true);
      expect(regionOps.every((o) => o.servedBy === 'drill-node; region=eu')).toBe(true);
      const log = readFileSync(join(dir, `${runId}-${region}.log`), 'utf8');
      expect(log).toContain('"stoppedBy":"stop-file"');
    }
    // The agents have exited: nothing is added after stop().
    const count = Object.values(ops).flat().length;
    await new Promise((r) => setTimeout(r, 500));
    expect(Object.values(fleet.snapshot()).flat()).toHaveLength(count);

    const fetchFile = directFetchFile(baseUrl, KEYS.owner);
    const clean = await verifyAcknowledged(ops, fetchFile, { recheckDelayMs: 0 });
    expect(clean.checked).toBe(Object.values(ops).flat().filter(isAcknowledgedWrite).length);
    expect(clean.lost).toEqual([]);
    expect(clean.stale).toEqual([]);
    expect(clean.unverified).toEqual([]);

    // The same check notices a deleted and an overwritten file.
    const acked = (ops['eu'] ?? []).filter(isAcknowledgedWrite);
    const [deleted, overwritten] = acked;
    const owner = api(node.url);
    expect((await owner(`/v1/files${deleted?.path ?? ''}`, { method: 'DELETE' })).status).toBe(204);
    expect((await owner(`/v1/files${overwritten?.path ?? ''}`, { method: 'PUT', body: 'other bytes' })).status).toBe(200);
    const damaged = await verifyAcknowledged(ops, fetchFile, { recheckDelayMs: 0 });
    expect(damaged.lost.map((w) => w.path)).toEqual([deleted?.path]);
    expect(damaged.stale.map((w) => [w.path, w.foundSha])).toEqual([[overwritten?.path, sha256(Buffer.from('other bytes'))]]);
  }, 60_000);

  it('stops by itself at its maximum duration', async () => {
    const output = join(dir, 'deadline.jsonl');
    const options: AgentOptions = { ...baseOptions(output), runId: 'agent-deadline', maxDurationMs: 2000, stopFile: join(dir, 'never-created') };
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts/drill/load/agent-main.ts'), JSON.stringify(options)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const exitCode = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(-1);
      }, 20_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    expect(exitCode).toBe(0);
    const summary = JSON.parse(stdout.trim()) as { stoppedBy: string; ranMs: number; writes: number; acknowledged: number };
    expect(summary.stoppedBy).toBe('deadline');
    expect(summary.ranMs).toBeGreaterThanOrEqual(2000);
    expect(summary.ranMs).toBeLessThan(2000 + 3000);
    const ops = readOpLog(output);
    expect(ops.length).toBe(summary.writes + ops.filter((o) => o.op === 'read').length);
    expect(summary.acknowledged).toBeGreaterThan(0);
    const first = Math.min(...ops.map((o) => o.t));
    expect(Math.max(...ops.map((o) => o.t))).toBeLessThan(first + 2000);
  }, 30_000);
});

function baseOptions(output: string): AgentOptions {
  return parseAgentOptions({ baseUrl, apiKey: KEYS.owner, region: 'eu', runId: 'agent-test', writeIntervalMs: 100, readIntervalMs: 100, maxDurationMs: 1500, stopFile: null, output, requestTimeoutMs: 400 });
}

describe('the agent when the service misbehaves', () => {
  let silent: Server;
  let silentPort: number;
  const held: Socket[] = [];

  beforeAll(async () => {
    // Accepts connections and reads requests but never answers: every write's outcome is unknown.
    silent = createServer((socket) => {
      held.push(socket);
      socket.on('data', () => undefined);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    silentPort = typeof address === 'object' && address !== null ? address.port : 0;
  });

  afterAll(async () => {
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('records writes that time out after being sent as unknown, never as acknowledged, and does not retry their paths', async () => {
    const output = join(dir, 'silent.jsonl');
    const summary = await runAgent({ ...baseOptions(output), baseUrl: `http://localhost:${silentPort}`, maxDurationMs: 1500, requestTimeoutMs: 300 });
    const ops = readOpLog(output);
    const writes = ops.filter((o) => o.op === 'write');
    expect(writes.length).toBeGreaterThanOrEqual(2);
    expect(writes.every((w) => w.outcome === 'unknown' && w.status === 0 && /timeout/.test(w.error ?? ''))).toBe(true);
    expect(writes.every((w) => w.ms >= 290 && w.ms < 1500)).toBe(true);
    expect(new Set(writes.map((w) => w.path)).size).toBe(writes.length);
    expect(ops.filter(isAcknowledgedWrite)).toEqual([]);
    expect(ops.filter((o) => o.op === 'read')).toEqual([]); // nothing acknowledged, nothing to read
    expect(summary).toMatchObject({ acknowledged: 0, unknown: writes.length, stoppedBy: 'deadline' });
    const verification = await verifyAcknowledged({ eu: ops }, async () => ({ status: 404, body: Buffer.alloc(0) }), { recheckDelayMs: 0, checkUnknown: false });
    expect(verification).toMatchObject({ checked: 0, lost: [] });
  });

  it('records a refused connection as a failed write with status 0, and stops early when aborted', async () => {
    const output = join(dir, 'refused.jsonl');
    const port = await freePort(); // nothing listens there
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 700);
    const started = Date.now();
    const summary = await runAgent({ ...baseOptions(output), baseUrl: `http://127.0.0.1:${port}`, maxDurationMs: 60_000 }, { signal: stop.signal });
    expect(Date.now() - started).toBeLessThan(2500);
    expect(summary.stoppedBy).toBe('signal');
    const writes: OpRecord[] = readOpLog(output);
    expect(writes.length).toBeGreaterThan(0);
    expect(writes.every((w) => w.op === 'write' && w.outcome === 'failed' && w.status === 0 && /ECONNREFUSED/.test(w.error ?? '') && w.resolved === '127.0.0.1')).toBe(true);
  });

  it('opens a new connection for every request (so a DNS change is seen at once)', async () => {
    let connections = 0;
    let requests = 0;
    const server = createHttpServer((req, res) => {
      requests++;
      req.resume();
      req.on('end', () => res.writeHead(req.method === 'POST' ? 201 : 200, { 'X-CallFS-Served-By': 'fake; region=eu' }).end());
    });
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const output = join(dir, 'connections.jsonl');
      await runAgent({ ...baseOptions(output), baseUrl: `http://localhost:${port}`, maxDurationMs: 800, writeIntervalMs: 50, readIntervalMs: 1000 });
      const ops = readOpLog(output);
      expect(ops.filter((o) => o.op === 'write').length).toBeGreaterThanOrEqual(5);
      expect(requests).toBe(ops.length);
      expect(connections).toBe(requests);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('refuses options that would make it unbounded or write outside its folder of paths', () => {
    const good = { baseUrl, apiKey: 'k', region: 'eu', runId: 'r1', maxDurationMs: 1000, output: '/tmp/x' };
    expect(() => parseAgentOptions(good)).not.toThrow();
    expect(() => parseAgentOptions({ ...good, maxDurationMs: 16 * 60_000 })).toThrow(/maxDurationMs/);
    expect(() => parseAgentOptions({ ...good, maxDurationMs: undefined })).toThrow(/maxDurationMs/);
    expect(() => parseAgentOptions({ ...good, region: '../eu' })).toThrow(/region/);
    expect(() => parseAgentOptions({ ...good, baseUrl: 'https://x.example' })).toThrow(/baseUrl/);
  });
});
