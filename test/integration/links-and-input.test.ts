/**
 * Single-use links and bad input against a real node: concurrent redemption, CallFS's rate
 * limits per client address, and paths/bodies that must be refused without touching anything
 * outside the storage root. Link lifecycle, metrics and JSON input are tested in-process in
 * test/unit/http/links-and-input.test.ts.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../scripts/local-services/postgres.js';
import { storedFile, unreferencedBlobKeys } from '../support/stored-bytes.js';
import { eventually } from '../support/wait.js';
import { api, call, KEYS, startTestNode, type TestNode } from '../support/test-node.js';

let node: TestNode;
let limited: TestNode;
let db: pg.Client;
let owner: ReturnType<typeof api>;

beforeAll(async () => {
  const dsn = await createTestDatabase(inject('pgAdminUrl'));
  node = await startTestNode({ dsn, redisUrl: inject('redisUrl'), lockWaitMs: 2000 });
  limited = await startTestNode({ dsn, instanceId: 'limited', realRateLimits: true });
  owner = api(node.url, KEYS.owner);
  db = new pg.Client({ connectionString: dsn });
  await db.connect();
});

afterAll(async () => {
  await db.end();
  await Promise.all([node.close(), limited.close()]);
});

async function generate(path: string, expiry = 60): Promise<Response> {
  return owner('/v1/links/generate', { method: 'POST', body: JSON.stringify({ path, expiry_seconds: expiry }), headers: { 'Content-Type': 'application/json' } });
}

/** A raw HTTP request whose path is sent exactly as given (fetch would normalise it). */
function raw(method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: node.port, method, path, headers: { Authorization: `Bearer ${KEYS.owner}` } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('single-use links', () => {
  it('refuses expired (410), forged (410), tampered or unknown (404) tokens, and links to missing files (404)', async () => {
    await owner('/v1/files/links/short.txt', { method: 'PUT', body: 's' });
    const { token } = (await (await generate('/links/short.txt', 1)).json()) as { token: string };
    const tampered = token.slice(0, 40) + (token[40] === 'A' ? 'B' : 'A') + token.slice(41);
    const bad = await call(`${node.url}/download/${tampered}`);
    expect(bad.status).toBe(404);
    expect((await bad.json()).code).toBe('LINK_NOT_FOUND');
    // A stored token whose signature does not match its path (another secret, or an edited row).
    const { token: other } = (await (await generate('/links/short.txt', 60)).json()) as { token: string };
    await db.query("UPDATE single_use_links SET file_path = '/links/other.txt' WHERE token = $1", [sha256(other)]);
    const forged = await call(`${node.url}/download/${other}`);
    expect(forged.status).toBe(410);
    expect((await forged.json()).code).toBe('LINK_INVALID');
    await new Promise((r) => setTimeout(r, 1200));
    const expired = await call(`${node.url}/download/${token}`);
    expect(expired.status).toBe(410);
    expect((await expired.json()).code).toBe('LINK_EXPIRED');
    const unknown = await call(`${node.url}/download/AAAAAAAAAAAAAAAAAAAAAA==.bogus`);
    expect(unknown.status).toBe(404);
    expect((await generate('/links/none.txt')).status).toBe(404);
  });

  it('answers HEAD with the headers of the download without spending the link', async () => {
    await owner('/v1/files/links/head.txt', { method: 'PUT', body: 'head bytes' });
    const { token } = (await (await generate('/links/head.txt')).json()) as { token: string };
    for (let i = 0; i < 3; i++) {
      const head = await call(`${node.url}/download/${token}`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe('10');
      expect(head.headers.get('content-disposition')).toBe("attachment; filename*=UTF-8''head.txt");
    }
    const get = await call(`${node.url}/download/${token}`);
    expect(get.status).toBe(200);
    expect(await get.text()).toBe('head bytes');
    expect((await call(`${node.url}/download/${token}`, { method: 'HEAD' })).status).toBe(410);
  });

  it('refuses a link to a directory when it is asked for, storing nothing', async () => {
    await owner('/v1/files/links/folder/inside.txt', { method: 'PUT', body: 'x' });
    const res = await generate('/links/folder');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('IS_A_DIRECTORY');
    const rows = await db.query("SELECT 1 FROM single_use_links WHERE file_path = '/links/folder'");
    expect(rows.rowCount).toBe(0);
  });

  it('stores only the SHA-256 of a token, so the table hands out no live link', async () => {
    await owner('/v1/files/links/hashed.txt', { method: 'PUT', body: 'hashed' });
    const { token } = (await (await generate('/links/hashed.txt')).json()) as { token: string };
    const rows = await db.query<{ token: string; hmac_signature: string }>("SELECT token, hmac_signature FROM single_use_links WHERE file_path = '/links/hashed.txt'");
    expect(rows.rows.map((r) => r.token)).toEqual([sha256(token)]);
    const tokenId = token.slice(0, token.indexOf('.'));
    expect(JSON.stringify(rows.rows)).not.toContain(tokenId);
    // What a dump shows is not a link.
    const fromDump = rows.rows[0]?.token ?? '';
    expect((await call(`${node.url}/download/${fromDump}`)).status).toBe(404);
    expect((await call(`${node.url}/download/${fromDump}.${rows.rows[0]?.hmac_signature ?? ''}`)).status).toBe(404);
    expect(await (await call(`${node.url}/download/${token}`)).text()).toBe('hashed');
  });

  it('lets exactly one of 20 concurrent redemptions through', async () => {
    await owner('/v1/files/links/race.txt', { method: 'PUT', body: 'race' });
    const { token } = (await (await generate('/links/race.txt')).json()) as { token: string };
    const statuses = await Promise.all(Array.from({ length: 20 }, () => call(`${node.url}/download/${token}`).then(async (r) => (await r.arrayBuffer(), r.status))));
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 410)).toHaveLength(19);
    const row = await db.query('SELECT status, used_by_ip FROM single_use_links WHERE token = $1', [sha256(token)]);
    expect(row.rows[0]).toEqual({ status: 'used', used_by_ip: '127.0.0.1' });
  });

  it("applies CallFS's per-IP rate limits (429 RATE_LIMIT_EXCEEDED)", async () => {
    // 12 at once against a burst of 5: the refusals are checked as they came (a later call may
    // already find a token refilled, at 10 per second, on a loaded machine).
    const answers = await Promise.all(Array.from({ length: 12 }, () => call(`${limited.url}/download/nothing-here`).then(async (r) => ({ status: r.status, body: await r.text() }))));
    const refused = answers.filter((a) => a.status === 429);
    expect(refused.length).toBeGreaterThanOrEqual(5);
    for (const answer of refused) expect(JSON.parse(answer.body)).toEqual({ code: 'RATE_LIMIT_EXCEEDED', message: 'Rate limit exceeded' });
    expect(answers.filter((a) => a.status !== 429).map((a) => a.status)).toEqual(answers.filter((a) => a.status !== 429).map(() => 404));
  });
});

describe('bad input never escapes the root and never 500s', () => {
  const root = () => node.rootPath ?? '';
  const outside = () => join(dirname(root()), 'escaped.txt');

  it.each([
    ['/v1/files/../../escaped.txt'],
    ['/v1/files/a/../../../escaped.txt'],
    ['/v1/files/%2e%2e/%2e%2e/escaped.txt'],
    ['/v1/files/..%2F..%2Fescaped.txt'],
    ['/v1/files/a%2F..%2F..%2Fescaped.txt'],
    ['/v1/files/..%5C..%5Cescaped.txt'],
    ['/v1/files/nul%00byte.txt'],
    ['/v1/files/ctl%01char.txt'],
    ['/v1/files/bidi%E2%80%AEtxt.exe'],
    ['/v1/files/bad%ZZescape'],
    [`/v1/files/${'n'.repeat(256)}`],
    [`/v1/files/${'p/'.repeat(2100)}x`],
    ['/v1/files/.callfs-tmp-123'],
  ])('PUT %s → 400/404, nothing written outside', async (path) => {
    const res = await raw('PUT', path, 'evil');
    expect([400, 404]).toContain(res.status);
    expect(existsSync(outside())).toBe(false);
  });

  it('keeps a decoded space, and percent-escapes that are not separators, inside the root', async () => {
    expect((await raw('PUT', '/v1/files/enc/file%20with%20spaces.txt', 'a')).status).toBe(201);
    expect((await raw('GET', '/v1/files/enc/file%20with%20spaces.txt')).body).toBe('a');
    expect((await raw('PUT', '/v1/files/enc/%252e%252e%252fx', 'b')).status).toBe(201);
    const names = (await db.query<{ path: string }>("SELECT path FROM inodes WHERE parent_path = '/enc' ORDER BY path")).rows.map((r) => r.path);
    expect(names).toEqual(['/enc/%2e%2e%2fx', '/enc/file with spaces.txt']);
    expect(readFileSync(await storedFile(db, root(), '/enc/%2e%2e%2fx'), 'utf8')).toBe('b');
  });

  it('leaves no file, no row and no lock behind when the body is shorter than Content-Length', async () => {
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port: node.port, method: 'PUT', path: '/v1/files/cut/short.bin', headers: { Authorization: `Bearer ${KEYS.owner}`, 'Content-Length': '100000' } });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(1000));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 200);
    });
    await new Promise((r) => setTimeout(r, 300));
    expect((await owner('/v1/files/cut/short.bin')).status).toBe(404);
    expect((await db.query('SELECT 1 FROM inodes WHERE path = $1', ['/cut/short.bin'])).rowCount).toBe(0);
    const leftovers = existsSync(join(root(), 'cut')) ? readdirSync(join(root(), 'cut')) : [];
    expect(leftovers).toEqual([]);
    // The versioned layout: the cut upload's blob was removed, not left for the sweeper.
    expect(await eventually(() => unreferencedBlobKeys(db, root()), (keys) => keys.length === 0, 3000)).toEqual([]);
    const started = Date.now();
    expect((await owner('/v1/files/cut/short.bin', { method: 'PUT', body: 'whole' })).status).toBe(201);
    expect(Date.now() - started).toBeLessThan(1500);
  });

});

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
