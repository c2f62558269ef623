/**
 * @module Random hex strings for values made on every request (request ids, peer-call nonces):
 * cut from a pool of random bytes refilled 8 KiB at a time, one system call per pool instead of
 * one per string. The bytes are the same CSPRNG output `randomBytes` gives, each used once.
 */
import { randomBytes } from 'node:crypto';

const POOL_BYTES = 8192;

/** A source of `bytes`-byte random values as lower-case hex (2 × `bytes` characters). */
export function pooledRandomHex(bytes: number): () => string {
  let pool = Buffer.alloc(0);
  let offset = 0;
  return () => {
    if (offset + bytes > pool.length) {
      pool = randomBytes(Math.max(POOL_BYTES, bytes));
      offset = 0;
    }
    const value = pool.toString('hex', offset, offset + bytes);
    offset += bytes;
    return value;
  };
}
