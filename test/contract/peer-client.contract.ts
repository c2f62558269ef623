/** The PeerClient port's contract, run against the undici client (over loopback HTTP) and the in-process one. */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { PeerClient } from '../../app/ports/peer-client.js';

/** A peer answering every request the way a node does: status, headers and a streamed body. */
export type PeerHandler = (request: Request) => Promise<Response>;

export interface PeerSetup {
  readonly client: PeerClient;
  /** The instance id under which `client` knows the peer. */
  readonly peerId: string;
  /** Takes the peer away (a crash): later requests cannot reach it. */
  stopPeer(): Promise<void>;
  close(): Promise<void>;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** Echoes what it received: method, target and a header in headers, the body's bytes reversed in order of arrival. */
const echo: PeerHandler = async (request) => {
  const url = new URL(request.url);
  const body = request.body === null ? Buffer.alloc(0) : Buffer.from(await request.arrayBuffer());
  const headers = new Headers({ 'x-seen-method': request.method, 'x-seen-target': url.pathname + url.search, 'x-seen-test': request.headers.get('x-test') ?? '', 'x-seen-length': String(body.length) });
  headers.append('set-cookie', 'a=1');
  headers.append('set-cookie', 'b=2');
  return new Response(request.method === 'HEAD' ? null : body, { status: request.method === 'PUT' ? 201 : 200, headers });
};

export function describePeerClientContract(name: string, setup: (handler: PeerHandler) => Promise<PeerSetup>): void {
  describe(`PeerClient contract: ${name}`, () => {
    it('sends method, target, headers and a streamed body, and streams the answer back', async () => {
      const peer = await setup(echo);
      try {
        expect(peer.client.endpointOf(peer.peerId)).toMatch(/^https?:\/\/[^/]+$/);
        const data = Buffer.alloc(3 * 1024 * 1024 + 7, 7);
        const chunks = [];
        for (let i = 0; i < data.length; i += 65536) chunks.push(data.subarray(i, i + 65536));
        const put = await peer.client.request(peer.peerId, {
          method: 'PUT',
          target: '/v1/files/a%20b.txt?x=1',
          headers: { 'x-test': 'yes', 'content-length': String(data.length) },
          body: Readable.from(chunks),
        });
        expect(put.status).toBe(201);
        expect(put.headers['x-seen-method']).toBe('PUT');
        expect(put.headers['x-seen-target']).toBe('/v1/files/a%20b.txt?x=1');
        expect(put.headers['x-seen-test']).toBe('yes');
        expect(put.headers['set-cookie']).toEqual(['a=1', 'b=2']);
        expect((await readAll(put.body)).equals(data)).toBe(true);

        const get = await peer.client.request(peer.peerId, { method: 'GET', target: '/health', headers: {}, body: null });
        expect(get.status).toBe(200);
        expect(get.headers['x-seen-length']).toBe('0');
        expect((await readAll(get.body)).length).toBe(0);
      } finally {
        await peer.close();
      }
    });

    it('answers PEER_UNAVAILABLE naming the instance for an unknown peer and for one that is gone', async () => {
      const peer = await setup(echo);
      try {
        await expect(peer.client.request('nobody', { method: 'GET', target: '/', headers: {}, body: null })).rejects.toMatchObject({ code: 'PEER_UNAVAILABLE', details: { instance_id: 'nobody' } });
        await peer.stopPeer();
        await expect(peer.client.request(peer.peerId, { method: 'GET', target: '/', headers: {}, body: null })).rejects.toMatchObject({ code: 'PEER_UNAVAILABLE', details: { instance_id: peer.peerId } });
      } finally {
        await peer.close();
      }
    });
  });
}
