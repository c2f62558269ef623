/**
 * @module Single-use link tokens in CallFS's wire format (reference §5.5):
 * `base64url(16 random bytes, padded) + "." + base64url(HMAC-SHA256(tokenId + path), padded)`,
 * the HMAC key being SHA-256 of the configured link secret. Tokens made by CallFS nodes with the
 * same secret verify here and the other way round.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Shortest and longest link lifetime CallFS accepts, in seconds. */
export const MIN_LINK_EXPIRY_SEC = 1;
export const MAX_LINK_EXPIRY_SEC = 86_400;

function paddedBase64Url(bytes: Buffer): string {
  return bytes.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/**
 * What the database stores instead of a token: its SHA-256 (hex). A dump of the links table then
 * holds no redeemable link; the token itself exists only in the URL handed to the user.
 */
export function linkTokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export class LinkSigner {
  readonly #key: Buffer;

  constructor(secret: string) {
    this.#key = createHash('sha256').update(secret).digest();
  }

  /** A fresh token for `path` and the signature stored with it. */
  issue(path: string): { token: string; signature: string } {
    const tokenId = paddedBase64Url(randomBytes(16));
    const signature = this.#sign(tokenId, path);
    return { token: `${tokenId}.${signature}`, signature };
  }

  /** Constant-time check that `token` was issued for `path` with this secret. */
  verify(token: string, path: string): boolean {
    const dot = token.indexOf('.');
    if (dot <= 0) return false;
    const expected = Buffer.from(this.#sign(token.slice(0, dot), path));
    const given = Buffer.from(token.slice(dot + 1));
    return expected.length === given.length && timingSafeEqual(expected, given);
  }

  #sign(tokenId: string, path: string): string {
    return paddedBase64Url(createHmac('sha256', this.#key).update(tokenId + path).digest());
  }
}
