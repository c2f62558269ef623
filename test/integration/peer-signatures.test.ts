/**
 * Signed node-to-node calls as an attacker on the network between nodes sees them. Node B
 * reaches node A through a recording proxy that can capture a call without delivering it; the
 * captured calls are then delivered with a swapped body, to another node, or again after A
 * restarts. Each is refused with 401 and changes nothing, while the untouched calls work.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../scripts/local-services/postgres.js';
import { signCall } from '../support/peer-calls.js';
import { storedFile, unreferencedBlobKeys } from '../support/stored-bytes.js';
import { freePort } from '../../scripts/local-services/processes.js';
import { api, call, KEYS, startTestNode, type TestNode, type TestResponse } from '../support/test-node.js';
import { eventually } from '../support/wait.js';

interface Captured {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/** Between B and A: records every signed call; `deliver` false answers 503 instead of passing it on. */
class RecordingProxy {
  readonly calls: Captured[] = [];
  deliver = true;
  #server: Server | null = null;
  url = '';

  constructor(private readonly target: () => string) {}

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(req.headers)) {
          if (typeof value === 'string' && !['host', 'connection', 'transfer-encoding', 'content-length', 'keep-alive'].includes(name)) headers[name] = value;
        }
        const captured = { method: req.method ?? 'GET', url: req.url ?? '/', headers, body: Buffer.concat(chunks) };
        // Only signed calls are captured; B's unsigned health probes always pass.
        const signed = headers['x-callfs-peer-signature'] !== undefined;
        if (signed) this.calls.push(captured);
        if (signed && !this.deliver) {
          res.writeHead(503, { 'content-type': 'application/json' }).end('{"code":"PEER_UNAVAILABLE","message":"captured"}');
          return;
        }
        void send(this.target(), captured).then(
          async (answer) => {
            res.writeHead(answer.status, Object.fromEntries([...answer.headers].filter(([name]) => name !== 'transfer-encoding' && name !== 'content-length')));
            res.end(Buffer.from(await answer.arrayBuffer()));
          },
          () => res.writeHead(502).end(),
        );
      });
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  last(): Captured {
    const captured = this.calls.at(-1);
    if (captured === undefined) throw new Error('nothing captured');
    return captured;
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}

/** Sends a captured call to `base` as it is, or with another body. */
function send(base: string, captured: Captured, body: Buffer = captured.body): Promise<TestResponse> {
  return call(base + captured.url, { method: captured.method, headers: captured.headers, ...(body.length > 0 || captured.method === 'PUT' ? { body } : {}) });
}

let dsn: string;
let redisUrl: string;
let rootA: string;
let portA: number;
let a: TestNode;
let b: TestNode;
let c: TestNode;
let proxy: RecordingProxy;

function startA(): Promise<TestNode> {
  return startTestNode({ dsn, redisUrl, instanceId: 'node-a', port: portA, localRoot: rootA });
}

beforeAll(async () => {
  dsn = await createTestDatabase(inject('pgAdminUrl'));
  redisUrl = inject('redisUrl');
  rootA = mkdtempSync(join(tmpdir(), 'callfs-sig-a-'));
  portA = await freePort();
  proxy = new RecordingProxy(() => `http://127.0.0.1:${portA}`);
  await proxy.start();
  a = await startA();
  b = await startTestNode({ dsn, redisUrl, instanceId: 'node-b', peers: { 'node-a': proxy.url } });
  c = await startTestNode({ dsn, redisUrl, instanceId: 'node-c' });
});

afterAll(async () => {
  await Promise.all([a.close(), b.close(), c.close(), proxy.close()]);
  rmSync(rootA, { recursive: true, force: true });
});

/** Blobs on A's disk that no row names (what a refused write must not leave). */
async function unreferencedOnA(): Promise<string[]> {
  const db = new pg.Client({ connectionString: dsn });
  await db.connect();
  try {
    return await unreferencedBlobKeys(db, rootA);
  } finally {
    await db.end();
  }
}

describe('a captured peer call', () => {
  it('with its body swapped is refused (401) and the file keeps its content', async () => {
    expect((await api(a.url)('/v1/files/sig/swap.txt', { method: 'PUT', body: 'original content' })).status).toBe(201);
    proxy.deliver = false;
    expect((await api(b.url)('/v1/files/sig/swap.txt', { method: 'PUT', body: 'the real update!' })).status).toBe(503);
    const swapped = proxy.last();
    expect(swapped.method).toBe('PUT');
    // Same length, same trailing bytes: only the data differs.
    const evil = Buffer.from(swapped.body);
    evil.write('an evil payload!', 0);
    expect((await send(a.url, swapped, evil)).status).toBe(401);
    expect(await (await api(a.url)('/v1/files/sig/swap.txt')).text()).toBe('original content');
    expect(readFileSync(await storedFile(dsn, rootA, '/sig/swap.txt'), 'utf8')).toBe('original content');
    // The refused write left no bytes behind on A: every blob there is named by a row.
    expect(await unreferencedOnA()).toEqual([]);
    // A longer body fails the same way.
    expect((await api(b.url)('/v1/files/sig/swap.txt', { method: 'PUT', body: 'another update' })).status).toBe(503);
    const longer = proxy.last();
    expect((await send(a.url, longer, Buffer.concat([Buffer.from('prefix '), longer.body]))).status).toBe(401);
    expect(await (await api(a.url)('/v1/files/sig/swap.txt')).text()).toBe('original content');
    expect(await unreferencedOnA()).toEqual([]);
    // The untouched capture of a third update is a valid call.
    expect((await api(b.url)('/v1/files/sig/swap.txt', { method: 'PUT', body: 'delivered as sent' })).status).toBe(503);
    expect((await send(a.url, proxy.last())).status).toBe(200);
    expect(await (await api(a.url)('/v1/files/sig/swap.txt')).text()).toBe('delivered as sent');
  });

  it('sent to another node than the one it was addressed to is refused (401)', async () => {
    expect((await api(a.url)('/v1/files/sig/retarget.txt', { method: 'PUT', body: 'held by a' })).status).toBe(201);
    proxy.deliver = false;
    expect((await api(b.url)('/v1/files/sig/retarget.txt', { method: 'DELETE' })).status).toBe(503);
    const captured = proxy.last();
    expect(captured.method).toBe('DELETE');
    // C would forward a valid call for A's file to A: the capture must be refused outright.
    expect((await send(c.url, captured)).status).toBe(401);
    expect(await (await api(a.url)('/v1/files/sig/retarget.txt')).text()).toBe('held by a');
    expect((await send(a.url, captured)).status).toBe(204);
    expect((await api(a.url)('/v1/files/sig/retarget.txt')).status).toBe(404);
  });

  it('replayed after the node restarts is refused (401)', async () => {
    await api(a.url)('/v1/files/sig/replay.txt', { method: 'PUT', body: 'before' });
    proxy.deliver = true;
    expect((await api(b.url)('/v1/files/sig/replay.txt', { method: 'PUT', body: 'after' })).status).toBe(200);
    const captured = proxy.last();
    expect((await send(a.url, captured)).status).toBe(401);
    await api(a.url)('/v1/files/sig/replay.txt', { method: 'PUT', body: 'newer' });
    await a.close();
    a = await startA();
    expect((await send(a.url, captured)).status).toBe(401);
    expect(await (await api(a.url)('/v1/files/sig/replay.txt')).text()).toBe('newer');
  });
});

/** Rows in the cluster's shared nonce store (one per call claimed there). */
async function nonceRows(): Promise<number> {
  const db = new pg.Client({ connectionString: dsn });
  await db.connect();
  try {
    return Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM callfs_peer_nonces')).rows[0]?.n);
  } finally {
    await db.end();
  }
}

describe('forwarded reads', () => {
  it('after the first are checked by the holder alone (no nonce row in Postgres each); a restarted holder costs one refused try', async () => {
    proxy.deliver = true;
    expect((await api(a.url)('/v1/files/sig/reads.txt', { method: 'PUT', body: 'held by a' })).status).toBe(201);
    expect(await (await api(b.url)('/v1/files/sig/reads.txt')).text()).toBe('held by a');
    const rowsBefore = await nonceRows();
    const sentBefore = proxy.calls.length;
    for (let i = 0; i < 5; i++) {
      const res = await api(b.url)('/v1/files/sig/reads.txt');
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('held by a');
      // The client sees B's answer: A's incarnation was for B only.
      expect(res.headers.get('x-callfs-peer-incarnation')).toBeNull();
    }
    expect(await nonceRows()).toBe(rowsBefore);
    const named = proxy.calls.slice(sentBefore).map((c) => c.headers['x-callfs-peer-incarnation']);
    expect(named).toHaveLength(5);
    expect(new Set(named).size).toBe(1);
    expect(named[0]).toMatch(/^[0-9a-f]{32}$/);
    // A's health check answers with the same incarnation: B's probes learn it before any call.
    expect((await call(`${a.url}/health`)).headers.get('x-callfs-peer-incarnation')).toBe(named[0]);
    const captured = proxy.last();
    // The captured read, replayed to the process it was signed for, is refused by its memory.
    expect((await send(a.url, captured)).status).toBe(401);
    await a.close();
    a = await startA();
    // Replayed to the restarted holder: refused, though the shared store never saw its nonce.
    const replayed = await send(a.url, captured);
    expect(replayed.status).toBe(401);
    const current = replayed.headers.get('x-callfs-peer-incarnation');
    expect(current).toMatch(/^[0-9a-f]{32}$/);
    expect(current).not.toBe(named[0]);
    // B's next read names the new incarnation: learnt from a health probe of the restarted A, or
    // from A's refusal of one last read signed for the old one (then sent again, once).
    // (B's breaker may still hold A for down from the restart: it answers 503 without a call until a probe succeeds.)
    const sentNow = proxy.calls.length;
    const res = await eventually(
      () => api(b.url)('/v1/files/sig/reads.txt'),
      (r) => r.status !== 503,
    );
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('held by a');
    const tries = proxy.calls.slice(sentNow).map((c) => c.headers['x-callfs-peer-incarnation']);
    expect(tries.at(-1)).toBe(current);
    expect([[current], [named[0], current]]).toContainEqual(tries);
  });
});

describe('hand-signed peer calls', () => {
  it('are refused with a hop count below 1', async () => {
    await api(a.url)('/v1/files/sig/hop.txt', { method: 'PUT', body: 'hop' });
    for (const hop of [0, -1]) {
      const { headers } = signCall({ method: 'GET', target: '/v1/files/sig/hop.txt', to: 'node-a', hop });
      expect((await call(`${a.url}/v1/files/sig/hop.txt`, { headers })).status).toBe(401);
    }
    const { headers } = signCall({ method: 'GET', target: '/v1/files/sig/hop.txt', to: 'node-a', hop: 1 });
    expect((await call(`${a.url}/v1/files/sig/hop.txt`, { headers })).status).toBe(200);
  });

  it('are refused when a signed header is changed or added (Range, If-Match)', async () => {
    const target = '/v1/files/sig/hop.txt';
    const ranged = signCall({ method: 'GET', target, to: 'node-a', headers: { range: 'bytes=0-0' } });
    expect((await call(a.url + target, { headers: { ...ranged.headers, range: 'bytes=0-2' } })).status).toBe(401);
    const plain = signCall({ method: 'GET', target, to: 'node-a' });
    expect((await call(a.url + target, { headers: { ...plain.headers, 'if-none-match': '*' } })).status).toBe(401);
    const intact = signCall({ method: 'GET', target, to: 'node-a', headers: { range: 'bytes=0-0' } });
    const res = await call(a.url + target, { headers: intact.headers });
    expect(res.status).toBe(206);
    expect(await res.text()).toBe('h');
  });
});

describe('nodes that speak https to each other', () => {
  let dir: string;
  let h1: TestNode;
  let h2: TestNode;
  let ca: Buffer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'callfs-tls-'));
    const [certFile, keyFile] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    ca = readFileSync(certFile);
    const [p1, p2] = [await freePort(), await freePort()];
    const tls = { certFile, keyFile };
    h1 = await startTestNode({ dsn, redisUrl, instanceId: 'tls-1', port: p1, tls, peerCaFile: certFile, peers: { 'tls-2': `https://127.0.0.1:${p2}` } });
    h2 = await startTestNode({ dsn, redisUrl, instanceId: 'tls-2', port: p2, tls, peerCaFile: certFile, peers: { 'tls-1': `https://127.0.0.1:${p1}` } });
  });

  afterAll(async () => {
    await Promise.all([h1.close(), h2.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('forward reads and writes over https, verifying the peer with peer_ca_file', async () => {
    const client = new Agent({ connect: { ca } });
    try {
      const send = async (base: string, method: 'GET' | 'PUT', body?: string) => {
        const res = await request(`${base}/v1/files/tls/held.txt`, { method, dispatcher: client, headers: { authorization: `Bearer ${KEYS.owner}` }, ...(body === undefined ? {} : { body }) });
        return { status: res.statusCode, text: await res.body.text(), servedBy: res.headers['x-callfs-served-by'] };
      };
      expect(h1.url.startsWith('https://')).toBe(true);
      expect((await send(h1.url, 'PUT', 'over tls')).status).toBe(201);
      expect(await send(h2.url, 'GET')).toEqual({ status: 200, text: 'over tls', servedBy: 'tls-1; region=test' });
      expect((await send(h2.url, 'PUT', 'replaced over tls')).status).toBe(200);
      expect((await send(h1.url, 'GET')).text).toBe('replaced over tls');
    } finally {
      await client.close();
    }
  });
});
