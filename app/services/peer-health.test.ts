import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { PeerClient, PeerRequest, PeerResponse } from '../ports/peer-client.js';
import { GuardedPeerClient } from './peer-health.js';
import { SignedPeerClient } from './signed-peer-client.js';

/** Peers that answer every request with 200 and their own headers; `down` ones refuse to connect. */
class FakePeers implements PeerClient {
  readonly requests: Array<{ instanceId: string; request: PeerRequest }> = [];
  readonly down = new Set<string>();
  constructor(private readonly answers: Record<string, Record<string, string>>) {}
  endpointOf(instanceId: string): string | undefined {
    return instanceId in this.answers ? `http://${instanceId}.invalid` : undefined;
  }
  async request(instanceId: string, request: PeerRequest): Promise<PeerResponse> {
    this.requests.push({ instanceId, request });
    if (this.down.has(instanceId)) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    return { status: 200, headers: this.answers[instanceId] ?? {}, body: Readable.from([]) };
  }
  async close(): Promise<void> {}
}

describe('GuardedPeerClient probes', () => {
  it("hand each answer's headers to the listener, so a peer's incarnation is known before the first call to it", async () => {
    const transport = new FakePeers({ a: { 'x-callfs-peer-incarnation': 'aaaaaaaaaaaaaaaa' }, b: { 'x-callfs-peer-incarnation': 'bbbbbbbbbbbbbbbb' } });
    transport.down.add('b');
    const guarded = new GuardedPeerClient(transport, { failureThreshold: 3, openMs: 1000, probeIntervalMs: 0, probeTimeoutMs: 200, peerIds: () => ['a', 'b'] });
    const signed = new SignedPeerClient({ secret: 'internal-secret-for-tests', self: 'me', peers: guarded, nonces: null });
    const heard: string[] = [];
    guarded.onProbeAnswer((id, headers) => {
      heard.push(`${id}=${String(headers['x-callfs-peer-incarnation'])}`);
      signed.heard(id, headers);
    });
    await guarded.probeAll();
    expect(heard).toEqual(['a=aaaaaaaaaaaaaaaa']);
    expect(transport.requests.map((r) => `${r.instanceId} ${r.request.method} ${r.request.target}`)).toEqual(['a GET /health', 'b GET /health']);
    // The first signed call to a names the incarnation its probe answered with; b's is unknown.
    await signed.call('a', { method: 'GET', target: '/v1/files/x', caller: 'alice', hop: 1 });
    await signed.call('b', { method: 'GET', target: '/v1/files/x', caller: 'alice', hop: 1 }).catch(() => undefined);
    const calls = transport.requests.slice(2);
    expect(calls[0]?.request.headers['x-callfs-peer-incarnation']).toBe('aaaaaaaaaaaaaaaa');
    expect(calls[1]?.request.headers['x-callfs-peer-incarnation']).toBeUndefined();
  });
});
