/**
 * Clients that start a transfer and go quiet: the node cuts the connection after its idle
 * timeout (set small here), so the path lock, the temp file and the socket are released and the
 * next writer succeeds instead of waiting out its lock timeout.
 */
import { connect, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { createTestDatabase } from '../../scripts/local-services/postgres.js';
import { Agent, request } from 'undici';
import { unreferencedBlobKeys } from '../support/stored-bytes.js';
import { KEYS, startTestNode, type TestNode } from '../support/test-node.js';
import { eventually } from '../support/wait.js';

let node: TestNode;
let dsn: string;

beforeAll(async () => {
  // The lock wait is far longer than the idle timeouts: a second writer succeeds only if the
  // stalled one was cut.
  dsn = await createTestDatabase(inject('pgAdminUrl'));
  node = await startTestNode({ dsn, lockWaitMs: 20_000, bodyIdleTimeoutMs: 1000, websocketIdleTimeoutMs: 1000 });
});
afterAll(() => node.close());

/**
 * One request on a connection of its own: the node's idle timeout is 1 s here, so a kept-alive
 * connection could be closed by the node just as a request is sent on it.
 */
async function send(path: string, method: 'GET' | 'PUT' = 'GET', body?: string): Promise<{ status: number; text: string }> {
  const agent = new Agent();
  try {
    const res = await request(node.url + path, { method, dispatcher: agent, headers: { authorization: `Bearer ${KEYS.owner}` }, ...(body === undefined ? {} : { body }) });
    return { status: res.statusCode, text: await res.body.text() };
  } finally {
    await agent.close();
  }
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

describe('a client that goes quiet', () => {
  it('sending one byte of a PUT body loses its connection, and the next writer to the path succeeds', async () => {
    expect((await send('/v1/files/stall/file.txt', 'PUT', 'before')).status).toBe(201);
    const socket = connect(node.port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(`PUT /v1/files/stall/file.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEYS.owner}\r\nContent-Length: 10\r\n\r\nx`);
    const cut = closed(socket);
    // Let the stalled write take the path lock first.
    await new Promise((r) => setTimeout(r, 300));
    const next = await send('/v1/files/stall/file.txt', 'PUT', 'next writer');
    expect(next.status).toBe(200);
    await cut;
    expect((await send('/v1/files/stall/file.txt')).text).toBe('next writer');
    // Neither the cut upload's bytes nor the replaced version's are left on disk.
    const db = new pg.Client({ connectionString: dsn });
    await db.connect();
    try {
      expect(await eventually(() => unreferencedBlobKeys(db, node.rootPath ?? ''), (keys) => keys.length === 0, 3000)).toEqual([]);
    } finally {
      await db.end();
    }
  });

  it('in a WebSocket upload is cut, stores nothing, and the next writer to the path succeeds', async () => {
    expect((await send('/v1/files/stall/ws.bin', 'PUT', 'kept')).status).toBe(201);
    const ws = new WebSocket(`${node.url.replace('http://', 'ws://')}/v1/files/ws/stall/ws.bin?mode=upload`, { headers: { Authorization: `Bearer ${KEYS.owner}` } });
    const code = new Promise<number>((resolve) => ws.on('close', (c) => resolve(c)));
    ws.on('error', () => undefined);
    await new Promise<void>((resolve) => ws.on('open', () => ws.send(Buffer.from('x'), () => resolve())));
    await new Promise((r) => setTimeout(r, 300));
    const next = await send('/v1/files/stall/ws.bin', 'PUT', 'next writer');
    expect(next.status).toBe(200);
    expect(await code).toBe(1006);
    expect((await send('/v1/files/stall/ws.bin')).text).toBe('next writer');
  });
});
