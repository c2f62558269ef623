/**
 * Encrypted traffic between nodes without a CA (`server.tls_self_signed`, what the AWS deployment
 * runs): two nodes on one Postgres serve https with certificates they made at start and announced
 * in the member registry. A forwards to B over TLS, trusting exactly B's announced certificate;
 * a registry row whose certificate is not the one B presents (or whose URL drops to http) makes
 * A's forward fail like a peer that is down, without sending the request.
 */
import { X509Certificate } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSelfSignedCertificate } from '../../app/adapters/tls/certificate.js';
import type { Logger } from '../../app/observability/logger.js';
import { createTestDatabase, queryOnce } from '../../scripts/local-services/postgres.js';
import { freePort } from '../../scripts/local-services/processes.js';
import { KEYS, SECRETS, startTestNode, type TestNode } from '../support/test-node.js';
import { eventually } from '../support/wait.js';

/** A TCP relay in front of B that keeps every byte A sends, to show what crossed the wire. */
class WireTap {
  readonly connections: Buffer[][] = [];
  #server: Server | null = null;
  port = 0;

  constructor(private readonly targetPort: () => number) {}

  async start(): Promise<void> {
    this.#server = createServer((client: Socket) => {
      const seen: Buffer[] = [];
      this.connections.push(seen);
      const upstream = connect(this.targetPort(), '127.0.0.1');
      client.on('data', (chunk: Buffer) => seen.push(chunk));
      client.pipe(upstream).pipe(client);
      const end = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as AddressInfo).port;
  }

  /** Everything A sent, all connections together. */
  bytes(): Buffer {
    return Buffer.concat(this.connections.flat());
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}

const lines: Array<{ message: string; fields: Record<string, unknown> }> = [];
const recording: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (message, fields) => lines.push({ message, fields: { ...fields } }),
  error: (message, fields) => lines.push({ message, fields: { ...fields } }),
};

let dsn: string;
let a: TestNode;
let b: TestNode;
let tap: WireTap;
let portB: number;

/** A client that trusts exactly one node's certificate, as its peers do. */
function clientOf(node: TestNode): Agent {
  return new Agent({ connect: { ca: [node.tlsCertificate() ?? ''], timeout: 5000 } });
}

async function send(node: TestNode, method: 'GET' | 'PUT', body?: string): Promise<{ status: number; text: string; servedBy: unknown }> {
  const dispatcher = clientOf(node);
  try {
    const res = await request(`${node.url}/v1/files/tls/held-by-b.txt`, {
      method,
      dispatcher,
      headers: { authorization: `Bearer ${KEYS.owner}` },
      headersTimeout: 20_000,
      bodyTimeout: 20_000,
      ...(body === undefined ? {} : { body }),
    });
    return { status: res.statusCode, text: await res.body.text(), servedBy: res.headers['x-callfs-served-by'] };
  } finally {
    await dispatcher.close();
  }
}

/** The certificates B's registry row announces now. */
async function announcedForB(): Promise<string | null> {
  const rows = await queryOnce<{ tls_certificates: string | null }>(dsn, "SELECT tls_certificates FROM cluster_members WHERE instance_id = 'tls-b'");
  return rows[0]?.tls_certificates ?? null;
}

/** Rewrites B's row on every heartbeat, as someone with write access to the registry would. */
async function tamperWithB(set: string): Promise<void> {
  await queryOnce(
    dsn,
    `CREATE OR REPLACE FUNCTION test_tamper_b() RETURNS trigger AS $$ BEGIN IF NEW.instance_id = 'tls-b' THEN ${set}; END IF; RETURN NEW; END $$ LANGUAGE plpgsql;
     DROP TRIGGER IF EXISTS test_tamper_b ON cluster_members;
     CREATE TRIGGER test_tamper_b BEFORE INSERT OR UPDATE ON cluster_members FOR EACH ROW EXECUTE FUNCTION test_tamper_b();`,
  );
}

async function stopTampering(): Promise<void> {
  await queryOnce(dsn, 'DROP TRIGGER IF EXISTS test_tamper_b ON cluster_members; DROP FUNCTION IF EXISTS test_tamper_b();');
}

beforeAll(async () => {
  dsn = await createTestDatabase(inject('pgAdminUrl'));
  portB = await freePort();
  tap = new WireTap(() => portB);
  await tap.start();
  // B announces the tap's address: everything A sends to B crosses it.
  b = await startTestNode({ dsn, instanceId: 'tls-b', port: portB, tlsSelfSigned: true, internalUrl: `https://127.0.0.1:${tap.port}` });
  a = await startTestNode({ dsn, instanceId: 'tls-a', tlsSelfSigned: true, logger: recording });
});

afterAll(async () => {
  await stopTampering().catch(() => undefined);
  await Promise.all([a?.close(), b?.close(), tap?.close()]);
});

describe('nodes with server.tls_self_signed', () => {
  it('serve https only, with a certificate naming their address, announced in the registry', async () => {
    expect(b.url).toBe(`https://127.0.0.1:${portB}`);
    const cert = new X509Certificate(b.tlsCertificate() ?? '');
    expect(cert.subjectAltName).toBe('IP Address:127.0.0.1');
    const rows = await queryOnce<{ internal_url: string; tls_certificates: string }>(dsn, "SELECT internal_url, tls_certificates FROM cluster_members WHERE instance_id = 'tls-b'");
    expect(rows[0]?.internal_url).toBe(`https://127.0.0.1:${tap.port}`);
    expect(rows[0]?.tls_certificates).toBe(b.tlsCertificate());
    // Plain http to the node's port gets no answer.
    await expect(fetch(`http://127.0.0.1:${portB}/health`, { signal: AbortSignal.timeout(5000) })).rejects.toThrow();
    // A client that does not trust the certificate is refused by its own TLS check.
    await expect(fetch(`${b.url}/health`, { signal: AbortSignal.timeout(5000) })).rejects.toThrow();
  });

  it('forward reads and replacements to the holder over TLS: nothing of the request crosses the wire in clear', async () => {
    expect((await send(b, 'PUT', 'secret bytes held by b')).status).toBe(201);
    const read = await eventually(
      () => send(a, 'GET'),
      (r) => r.status === 200,
    );
    expect(read).toEqual({ status: 200, text: 'secret bytes held by b', servedBy: 'tls-b; region=test' });
    expect((await send(a, 'PUT', 'replaced through a, still secret')).status).toBe(200);
    expect((await send(b, 'GET')).text).toBe('replaced through a, still secret');

    expect(tap.connections.length).toBeGreaterThan(0);
    for (const connection of tap.connections.filter((c) => c.length > 0)) expect(connection[0]?.[0]).toBe(0x16); // a TLS handshake record
    const wire = tap.bytes();
    for (const clear of ['replaced through a', '/v1/files', 'held-by-b', 'x-callfs', SECRETS.internal]) expect(wire.includes(Buffer.from(clear))).toBe(false);
  });

  it('refuse a holder whose registry row announces another certificate: 503 like a peer that is down, nothing sent, logged without secrets', async () => {
    const impostor = createSelfSignedCertificate({ host: '127.0.0.1', validityMs: 86_400_000 }).certPem;
    await tamperWithB(`NEW.tls_certificates := '${impostor}'`);
    expect(await eventually(announcedForB, (pem) => pem === impostor)).toBe(impostor);
    const sentBefore = tap.bytes().length;

    const read = await eventually(
      () => send(a, 'GET'),
      (r) => r.status === 503,
    );
    expect(read.status).toBe(503);
    expect(JSON.parse(read.text)).toMatchObject({ code: 'PEER_UNAVAILABLE' });
    const write = await send(a, 'PUT', 'must never reach b');
    expect(write.status).toBe(503);
    expect((await send(b, 'GET')).text).toBe('replaced through a, still secret');
    // What A sent since: TLS handshakes that B's certificate failed, never a request.
    const since = tap.bytes().subarray(sentBefore);
    expect(since.includes(Buffer.from('must never reach b'))).toBe(false);
    expect(since.includes(Buffer.from('/v1/files'))).toBe(false);

    const refusal = lines.find((l) => l.message.startsWith('peer refused'));
    expect(refusal?.fields).toMatchObject({ peer: 'tls-b', reason: expect.stringContaining('TLS identity did not verify') as unknown });
    const logged = JSON.stringify(lines);
    for (const secret of [SECRETS.internal, KEYS.owner, 'BEGIN CERTIFICATE', 'PRIVATE KEY']) expect(logged.includes(secret)).toBe(false);
  });

  it('refuse a holder that announces a certificate with an http URL instead of falling back to clear text', async () => {
    await tamperWithB("NEW.internal_url := replace(NEW.internal_url, 'https://', 'http://')");
    await eventually(
      () => queryOnce<{ internal_url: string; tls_certificates: string | null }>(dsn, "SELECT internal_url, tls_certificates FROM cluster_members WHERE instance_id = 'tls-b'"),
      (rows) => rows[0]?.internal_url.startsWith('http://') === true && rows[0].tls_certificates === b.tlsCertificate(),
    );
    // A's probes of B meet the new row within a heartbeat and are refused before connecting.
    const refused = await eventually(
      async () => lines.some((l) => l.fields['peer'] === 'tls-b' && String(l.fields['reason']).includes('non-https URL')),
      (seen) => seen,
    );
    expect(refused).toBe(true);
    const sentBefore = tap.bytes().length;
    const read = await send(a, 'GET');
    expect(read.status).toBe(503);
    expect((await send(a, 'PUT', 'must never reach b either')).status).toBe(503);
    expect(tap.bytes().length).toBe(sentBefore); // not a byte: no connection at all
  });

  it('work again once the registry announces the certificate B presents', async () => {
    await stopTampering();
    const read = await eventually(
      () => send(a, 'GET'),
      (r) => r.status === 200,
      30_000,
      250,
    );
    expect(read).toEqual({ status: 200, text: 'replaced through a, still secret', servedBy: 'tls-b; region=test' });
  });
});
