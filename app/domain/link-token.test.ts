import { describe, expect, it } from 'vitest';
import { LinkSigner } from './link-token.js';

describe('LinkSigner (CallFS token format)', () => {
  it('issues 69-character padded base64url tokens that verify for their path only', () => {
    const signer = new LinkSigner('link-secret');
    const { token, signature } = signer.issue('/docs/a.txt');
    expect(token).toHaveLength(69);
    expect(token).toMatch(/^[A-Za-z0-9_-]{22}==\.[A-Za-z0-9_-]{43}=$/);
    expect(token.endsWith(signature)).toBe(true);
    expect(signer.verify(token, '/docs/a.txt')).toBe(true);
    expect(signer.verify(token, '/docs/b.txt')).toBe(false);
    expect(new LinkSigner('other-secret').verify(token, '/docs/a.txt')).toBe(false);
    const tampered = token.slice(0, 30) + (token[30] === 'A' ? 'B' : 'A') + token.slice(31);
    expect(signer.verify(tampered, '/docs/a.txt')).toBe(false);
    expect(signer.verify('no-dot', '/docs/a.txt')).toBe(false);
  });
});
