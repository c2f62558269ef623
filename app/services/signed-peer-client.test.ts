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
  asked = 0;
  async claimPeerNonce(nonce: string): Promise<boolean> {
    this.asked++;
    if (this.failing) throw new Error('primary unreachable');
    if (this.seen.has(nonce)) return false;
    this.seen.add(nonce);
    return true;
  }
}

/**
 * A transport whose far end is another SignedPeerClient: it answers 200 or 401 as the receiving
 * node's HTTP layer would, naming the receiver's incarnation, and keeps every request sent.
 */
class WiredTransport implements PeerClient {
  readonly sent: PeerRequest[] = [];
  constructor(public receiver: SignedPeerClient) {}
  endpointOf(): string {
    return 'http://peer.invalid';
  }
  async request(_instanceId: string, request: PeerRequest) {
    this.sent.push(request);
    const headers = request.headers;
    const verdict = await this.receiver.verify({ method: request.method, target: request.target, headerNames: Object.keys(headers), header: (name) => headers[name] });
    return { status: verdict.ok ? 200 : 401, headers: { 'x-callfs-peer-incarnation': this.receiver.incarnation }, body: Readable.from([]) };
  }
  async close(): Promise<void> {}
}

/** A request as it was sent, in the shape `verify` takes. */
function asSigned(request: PeerRequest) {
  const headers = request.headers;
  return { method: request.method, target: request.target, headerNames: Object.keys(headers), header: (name: string) => headers[name] };
}

/** A receiving node and a sending node wired to it (`options` go to both: e.g. a shared clock). */
function wired(nonces: PeerNonceStore | null, options: { maxLocalNonces?: number; now?: () => number } = {}) {
  const receiver = new SignedPeerClient({ secret, self: 'receiver', peers: null, nonces, ...options });
  const wire = new WiredTransport(receiver);
  const sender = new SignedPeerClient({ secret, self: 'sender', peers: wire, nonces: null, ...(options.now ? { now: options.now } : {}) });
  return { receiver, wire, sender };
}

/** A bodiless forwarded read. */
const get = { method: 'GET', target: '/v1/files/a.txt', caller: 'alice', hop: 1 };

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

  it('checks a bodiless call that names its incarnation in memory alone: no shared store, also while it is down', async () => {
    const shared = new SharedNonces();
    const { receiver, wire, sender } = wired(shared);
    // The first call cannot know the incarnation yet: the shared store is asked, the answer teaches it.
    expect((await sender.call('receiver', get)).status).toBe(200);
    expect(wire.sent[0]?.headers['x-callfs-peer-incarnation']).toBeUndefined();
    expect(shared.asked).toBe(1);
    expect((await sender.call('receiver', get)).status).toBe(200);
    expect(wire.sent[1]?.headers['x-callfs-peer-incarnation']).toBe(receiver.incarnation);
    expect(shared.asked).toBe(1);
    // The home region's primary is out: bodiless calls go on being accepted at once.
    shared.failing = true;
    expect((await sender.call('receiver', get)).status).toBe(200);
    expect(shared.asked).toBe(1);
    // A captured call is still refused by the process it was signed for.
    const captured = wire.sent[2];
    if (captured === undefined) throw new Error('nothing sent');
    expect(await receiver.verify(asSigned(captured))).toEqual({ ok: false, reason: 'replay' });
  });

  it('a restarted receiver refuses calls signed for its earlier life; the caller learns the new incarnation and retries once', async () => {
    const shared = new SharedNonces();
    const { receiver: first, wire, sender } = wired(shared);
    await sender.call('receiver', get);
    await sender.call('receiver', get);
    const captured = wire.sent[1];
    if (captured === undefined) throw new Error('nothing sent');
    expect(captured.headers['x-callfs-peer-incarnation']).toBe(first.incarnation);
    // Restart: a new process, the same shared store, which never saw the captured call's nonce.
    const second = new SignedPeerClient({ secret, self: 'receiver', peers: null, nonces: shared });
    expect(second.incarnation).not.toBe(first.incarnation);
    expect(shared.seen.has(captured.headers['x-callfs-peer-nonce'] ?? '')).toBe(false);
    expect(await second.verify(asSigned(captured))).toEqual({ ok: false, reason: 'incarnation' });
    wire.receiver = second;
    const sentBefore = wire.sent.length;
    expect((await sender.call('receiver', get)).status).toBe(200);
    expect(wire.sent.slice(sentBefore).map((r) => r.headers['x-callfs-peer-incarnation'])).toEqual([first.incarnation, second.incarnation]);
  });

  it('a call with a body never names the incarnation: it is claimed in the shared store', async () => {
    const shared = new SharedNonces();
    const { wire, sender } = wired(shared);
    await sender.call('receiver', get);
    const put = await sender.call('receiver', { method: 'PUT', target: '/v1/files/a.txt', caller: 'alice', hop: 1, headers: { 'content-length': '2' }, body: Readable.from([Buffer.from('hi')]) });
    expect(put.status).toBe(200);
    expect(wire.sent[1]?.headers['x-callfs-peer-incarnation']).toBeUndefined();
    expect(shared.asked).toBe(2);
  });

  it('with its memory full, refuses calls as old as a nonce it had to forget early', async () => {
    let clock = 1_000_000;
    const { receiver, wire, sender } = wired(null, { maxLocalNonces: 2, now: () => clock });
    for (let i = 0; i < 4; i++) {
      clock += 10;
      expect((await sender.call('receiver', get)).status).toBe(200);
    }
    // Memory holds two nonces: the calls of the first two were pushed out within the window.
    const oldest = wire.sent[1];
    if (oldest === undefined) throw new Error('nothing sent');
    expect(await receiver.verify(asSigned(oldest))).toEqual({ ok: false, reason: 'replay' });
    clock += 10;
    expect((await sender.call('receiver', get)).status).toBe(200);
  });

  it('refuses stale times', async () => {
    const call = await capture();
    const later = node('receiver', null, () => Number(call.headers['x-callfs-peer-time']) + 31_000).client;
    expect(await later.verify(call)).toEqual({ ok: false, reason: 'stale' });
  });
});
