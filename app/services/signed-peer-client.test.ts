import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { PeerClient, PeerRequest } from '../ports/peer-client.js';
import type { PeerNonceStore } from '../ports/peer-nonces.js';
import { MAX_PEER_HOPS, SignedPeerClient } from './signed-peer-client.js';

const secret = 'internal-secret-for-tests';

/** A transport that keeps what would have been sent (the bytes on the wire between two nodes). */
class CapturingTransport implements PeerClient {
  readonly sent: Array<{ request: PeerRequest; body: Buffer }> = [];
  endpointOf(): string {
    return 'http://peer.invalid';
  }
  async request(_instanceId: string, request: PeerRequest) {
    const chunks: Buffer[] = [];
    if (request.body) for await (const chunk of request.body) chunks.push(chunk as Buffer);
    this.sent.push({ request, body: Buffer.concat(chunks) });
    return { status: 200, headers: {}, body: Readable.from([]) };
  }
  async close(): Promise<void> {}
}

class SharedNonces implements PeerNonceStore {
  readonly seen = new Set<string>();
  failing = false;
  async claimPeerNonce(nonce: string): Promise<boolean> {
    if (this.failing) throw new Error('primary unreachable');
    if (this.seen.has(nonce)) return false;
    this.seen.add(nonce);
    return true;
  }
}

function node(self: string, nonces: PeerNonceStore | null, now: () => number = Date.now) {
  const transport = new CapturingTransport();
  return { transport, client: new SignedPeerClient({ secret, self, peers: transport, nonces, now }) };
}

async function capture(body?: string) {
  const { transport, client } = node('sender', null);
  await client.call('receiver', { method: body === undefined ? 'GET' : 'PUT', target: '/v1/files/a.txt', caller: 'alice', hop: 1, headers: { 'content-length': String(body?.length ?? 0) }, body: body === undefined ? null : Readable.from([Buffer.from(body)]) });
  const sent = transport.sent[0];
  if (sent === undefined) throw new Error('nothing sent');
  const headers = sent.request.headers;
  return { target: sent.request.target, method: sent.request.method, headers, wire: sent.body, header: (name: string) => headers[name], headerNames: Object.keys(headers) };
}

async function drain(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

describe('SignedPeerClient', () => {
  it('refuses to forward a request past the hop limit, sending nothing', async () => {
    const { transport, client } = node('sender', null);
    const call = { method: 'GET', target: '/v1/files/a.txt', caller: 'alice' };
    await client.call('receiver', { ...call, hop: MAX_PEER_HOPS });
    await expect(client.call('receiver', { ...call, hop: MAX_PEER_HOPS + 1 })).rejects.toMatchObject({ code: 'PEER_LOOP' });
    expect(transport.sent).toHaveLength(1);
  });

  it('accepts a call once, for its destination only, and hands over its body without the MAC', async () => {
    const call = await capture('hello body');
    const shared = new SharedNonces();
    const receiver = node('receiver', shared).client;
    expect((await node('someone-else', shared).client.verify(call))).toEqual({ ok: false, reason: 'destination' });
    const verdict = await receiver.verify(call);
    if (!verdict.ok) throw new Error(verdict.reason);
    expect(verdict.peer).toMatchObject({ caller: 'alice', hop: 1, from: 'sender', hasBody: true, bodyLength: 10 });
    expect(await drain(receiver.verifiedBody(Readable.from([call.wire]), verdict.peer))).toBe('hello body');
    expect(await receiver.verify(call)).toEqual({ ok: false, reason: 'replay' });
    // Another node of the cluster (or this one after a restart) shares the nonces.
    expect(await node('receiver', shared).client.verify(call)).toEqual({ ok: false, reason: 'replay' });
  });

  it('fails a swapped body instead of ending it, and checks bodies split into small chunks', async () => {
    const receiver = node('receiver', null).client;
    const call = await capture('0123456789abcdef0123456789abcdef-tail');
    const verdict = await receiver.verify(call);
    if (!verdict.ok) throw new Error(verdict.reason);
    const swapped = Buffer.from(call.wire);
    swapped[0] = 'X'.charCodeAt(0);
    await expect(drain(receiver.verifiedBody(Readable.from([swapped]), verdict.peer))).rejects.toMatchObject({ code: 'AUTHENTICATION_FAILED' });
    const bytes = [...call.wire].map((b) => Buffer.from([b]));
    expect(await drain(receiver.verifiedBody(Readable.from(bytes), verdict.peer))).toBe('0123456789abcdef0123456789abcdef-tail');
  });

  it('refuses a changed method, target or signed header', async () => {
    const receiver = node('receiver', null).client;
    const call = await capture();
    expect(await receiver.verify({ ...call, method: 'DELETE' })).toEqual({ ok: false, reason: 'signature' });
    expect(await receiver.verify({ ...call, target: '/v1/files/b.txt' })).toEqual({ ok: false, reason: 'signature' });
    const withRange = { ...call.headers, range: 'bytes=0-1' };
    expect(await receiver.verify({ ...call, headerNames: Object.keys(withRange), header: (n: string) => withRange[n as keyof typeof withRange] })).toEqual({ ok: false, reason: 'signature' });
  });

  it('without the shared store, accepts only calls signed after this process started', async () => {
    const call = await capture();
    const shared = new SharedNonces();
    shared.failing = true;
    const restarted = node('receiver', shared, () => Number(call.headers['x-callfs-peer-time']) + 1000).client;
    expect(await restarted.verify(call)).toEqual({ ok: false, reason: 'replay' });
    const fresh = await capture();
    const running = node('receiver', shared, () => Number(fresh.headers['x-callfs-peer-time']) - 10).client;
    expect((await running.verify(fresh)).ok).toBe(true);
    expect(await running.verify(fresh)).toEqual({ ok: false, reason: 'replay' });
  });

  it('refuses stale times', async () => {
    const call = await capture();
    const later = node('receiver', null, () => Number(call.headers['x-callfs-peer-time']) + 31_000).client;
    expect(await later.verify(call)).toEqual({ ok: false, reason: 'stale' });
  });
});
