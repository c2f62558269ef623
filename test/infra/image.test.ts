/**
 * The node's container image, as far as it can be checked without a Docker daemon: the Dockerfile
 * and the entry point are read as text, and the health-check script is run against a real server.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createSelfSignedCertificate } from '../../app/adapters/tls/certificate.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const dockerfile = readFileSync(`${repo}/Dockerfile`, 'utf8');
const entry = readFileSync(`${repo}/infra/image/start-node.sh`, 'utf8');
const instructions = dockerfile.split('\n').filter((line) => /^[A-Z]+ /.test(line));

describe('the Dockerfile', () => {
  it('starts every stage from Node 24 on bookworm-slim pinned by digest', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:24-bookworm-slim@sha256:[0-9a-f]{64}$/m);
    const froms = instructions.filter((line) => line.startsWith('FROM '));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from).toMatch(/^FROM \$\{NODE_IMAGE\}( AS [a-z-]+)?$/);
  });

  it('runs built JavaScript (dist/app/main.js, D4), never tsx', () => {
    expect(instructions).toContain('RUN npm run build');
    expect(entry).toMatch(/^exec node dist\/app\/main\.js "\$@"$/m);
    expect(`${dockerfile}\n${entry}`).not.toMatch(/tsx/);
  });

  it('installs production dependencies only, exactly as locked, without install scripts or optional binaries', () => {
    expect(instructions).toContain('RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force');
    expect(instructions.filter((line) => line.startsWith('COPY --from=')).map((line) => line.split(' ')[1])).toEqual(['--from=rds-ca', '--from=deps', '--from=build']);
  });

  it('downloads nothing without a checksum: the RDS bundle must match RDS_CA_BUNDLE_SHA256', () => {
    const downloads = dockerfile.match(/fetch\(|curl |wget |ADD https?:/g) ?? [];
    expect(downloads).toEqual(['fetch(']);
    expect(dockerfile).toMatch(/if \(got !== want\) throw new Error\('RDS CA bundle checksum mismatch/);
    expect(dockerfile).toMatch(/if \(!\/\^\[0-9a-f\]\{64\}\$\/\.test\(want\)\)/);
  });

  it('runs as a non-root user and declares a HEALTHCHECK', () => {
    const users = instructions.filter((line) => line.startsWith('USER '));
    expect(users.at(-1)).toBe('USER 1000:1000');
    expect(instructions.some((line) => line.startsWith('HEALTHCHECK ') && line.includes('healthcheck.mjs'))).toBe(true);
  });
});

describe('the image health check', () => {
  const run = (env: Record<string, string>) => promisify(execFile)('node', [`${repo}/infra/image/healthcheck.mjs`], { env: { ...process.env, ...env } });

  it('passes while /health answers 200 on the listen port and fails otherwise', async () => {
    let status = 200;
    const server = createServer((request, response) => {
      response.statusCode = request.url === '/health' ? status : 404;
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      await expect(run({ CALLFS_SERVER__LISTEN_ADDR: `:${port}` })).resolves.toBeDefined();
      status = 503;
      await expect(run({ CALLFS_SERVER__LISTEN_ADDR: `:${port}` })).rejects.toMatchObject({ code: 1 });
    } finally {
      server.close();
    }
  }, 120_000);

  it('speaks HTTPS to a node with a self-signed certificate, and finds the scheme itself when the environment does not say', async () => {
    const made = createSelfSignedCertificate({ host: '127.0.0.1', validityMs: 86_400_000 });
    let status = 200;
    const handler = (request: IncomingMessage, response: ServerResponse): void => {
      response.statusCode = request.url === '/health' ? status : 404;
      response.end();
    };
    const tls = createHttpsServer({ cert: made.certPem, key: made.keyPem }, handler);
    const plain = createServer(handler);
    await Promise.all([tls, plain].map((server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))));
    const tlsPort = (tls.address() as AddressInfo).port;
    const plainPort = (plain.address() as AddressInfo).port;
    try {
      await expect(run({ CALLFS_SERVER__LISTEN_ADDR: `:${tlsPort}`, CALLFS_SERVER__TLS_SELF_SIGNED: 'true' })).resolves.toBeDefined();
      await expect(run({ CALLFS_SERVER__LISTEN_ADDR: `:${tlsPort}` })).resolves.toBeDefined();
      await expect(run({ CALLFS_SERVER__LISTEN_ADDR: `:${plainPort}` })).resolves.toBeDefined();
      // The environment's word is kept: https is not tried against a node said to speak http, and the reverse.
      await expect(run({ CALLFS_SERVER__LISTEN_ADDR: `:${tlsPort}`, CALLFS_SERVER__PROTOCOL: 'http' })).rejects.toMatchObject({ code: 1 });
      await expect(run({ CALLFS_SERVER__LISTEN_ADDR: `:${plainPort}`, CALLFS_SERVER__TLS_SELF_SIGNED: 'true' })).rejects.toMatchObject({ code: 1 });
      status = 503;
      await expect(run({ CALLFS_SERVER__LISTEN_ADDR: `:${tlsPort}`, CALLFS_SERVER__TLS_SELF_SIGNED: 'true' })).rejects.toMatchObject({ code: 1 });
    } finally {
      tls.close();
      plain.close();
    }
  }, 120_000);
});
