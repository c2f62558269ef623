import { describe, expect, it } from 'vitest';
import { newNonce, signPeerRequest } from '../domain/peer-signature.js';
import { PeerAuthenticator } from './peer-auth.js';

const secret = 'internal-secret-for-tests';
function fields(overrides: Partial<Parameters<typeof signPeerRequest>[1]> = {}) {
  return { method: 'GET', target: '/v1/files/a.txt', timeMs: 1_000_000, nonce: newNonce(), caller: 'alice', hop: 1, from: 'node1', ...overrides };
}

describe('PeerAuthenticator', () => {
  const auth = () => new PeerAuthenticator({ secret, now: () => 1_000_000 });

  it('accepts a fresh, correctly signed request once', () => {
    const a = auth();
    const f = fields();
    const signature = signPeerRequest(secret, f);
    expect(a.verify(f, signature)).toEqual({ ok: true });
    expect(a.verify(f, signature)).toEqual({ ok: false, reason: 'replay' });
  });

  it.each([
    ['another secret', (f: ReturnType<typeof fields>) => signPeerRequest('wrong-secret', f), fields()],
    ['a changed caller', (f: ReturnType<typeof fields>) => signPeerRequest(secret, { ...f, caller: 'root' }), fields()],
    ['a changed target', (f: ReturnType<typeof fields>) => signPeerRequest(secret, { ...f, target: '/v1/files/b.txt' }), fields()],
  ])('refuses a signature made with %s', (_name, sign, f) => {
    expect(auth().verify(f, sign(f))).toEqual({ ok: false, reason: 'signature' });
  });

  it('refuses stale timestamps', () => {
    const f = fields({ timeMs: 1_000_000 - 31_000 });
    expect(auth().verify(f, signPeerRequest(secret, f))).toEqual({ ok: false, reason: 'stale' });
  });
});
