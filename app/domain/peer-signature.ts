/**
 * @module Signatures on node-to-node requests (pure: no I/O, the secret is a parameter). Instead
 * of sending the shared internal secret as a bearer (CallFS), a node signs each call with
 * HMAC-SHA256 over everything that changes what the call does:
 *
 * - the method and the request target (path and query, exactly as sent);
 * - every header in {@link SIGNED_HEADERS} (ranges, preconditions, content type) and every
 *   `X-CallFS-*` header, absent ones included as absent: among them the peer headers naming the
 *   caller, the sending and the destination instance, the hop count, the time, a one-time nonce,
 *   the body length and whether a body follows;
 * - the body, when there is one: the sender streams it followed by a 32-byte MAC over the
 *   signature and every body byte ({@link BODY_MAC_BYTES}); the receiver checks it as the last
 *   bytes arrive, so a write whose body was swapped fails before anything is committed. Nothing
 *   is buffered.
 *
 * An attacker who captures a call can therefore not change its body, headers, target or
 * destination; replays are refused by the receiver's nonce check (services/signed-peer-client.ts).
 */
import { createHmac, timingSafeEqual, type Hmac } from 'node:crypto';
import { pooledRandomHex } from './random-hex.js';

/** Headers of the peer protocol (lower case, as Node presents them). */
export const PEER_HEADERS = {
  caller: 'x-callfs-peer-caller',
  time: 'x-callfs-peer-time',
  nonce: 'x-callfs-peer-nonce',
  hop: 'x-callfs-peer-hop',
  from: 'x-callfs-peer-from',
  /** Instance id of the node the call is addressed to. */
  to: 'x-callfs-peer-to',
  /**
   * The destination's incarnation (a random id it draws at start) as the caller last heard it.
   * On a call: optional, signed like every `x-callfs-*` header. On every answer to a signed call:
   * the answering process's own incarnation, so callers learn it.
   */
  incarnation: 'x-callfs-peer-incarnation',
  /** `mac` when the body is followed by its MAC, `none` when the call has no body. */
  body: 'x-callfs-peer-body',
  /** Length of the body without its MAC (the caller's Content-Length), when known. */
  length: 'x-callfs-peer-length',
  signature: 'x-callfs-peer-signature',
} as const;

/** Headers outside `X-CallFS-*` that change a call's outcome; all are signed, present or not. */
export const SIGNED_HEADERS = ['content-type', 'range', 'if-range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since'] as const;

/** Size of the MAC that follows a signed body. */
export const BODY_MAC_BYTES = 32;

const VERSION = 'callfs-peer-2';

/** True for the headers a signature covers (besides the fixed list: every `x-callfs-*` but the signature). */
export function isSignedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  if (lower === PEER_HEADERS.signature) return false;
  return lower.startsWith('x-callfs-') || (SIGNED_HEADERS as readonly string[]).includes(lower);
}

export interface SignedRequest {
  readonly method: string;
  /** Raw request target: path and query exactly as sent. */
  readonly target: string;
  /** Names of the headers present on the request (any case). */
  readonly headerNames: Iterable<string>;
  /** A header's value by lower-case name. */
  readonly header: (name: string) => string | undefined;
}

/** The exact text a signature is computed over; JSON keeps every field unambiguous. */
function canonical(request: SignedRequest): string {
  const names: string[] = [...SIGNED_HEADERS];
  for (const name of request.headerNames) {
    if (!isSignedHeader(name)) continue;
    const lower = name.toLowerCase();
    if (!names.includes(lower)) names.push(lower);
  }
  names.sort();
  const headers = names.map((name) => [name, request.header(name) ?? null]);
  return JSON.stringify([VERSION, request.method.toUpperCase(), request.target, headers]);
}

export function signPeerRequest(secret: string, request: SignedRequest): string {
  return createHmac('sha256', secret).update(canonical(request)).digest('hex');
}

/** Constant-time comparison of a received signature with the expected one. */
export function peerSignatureMatches(secret: string, request: SignedRequest, signature: string): boolean {
  const expected = Buffer.from(signPeerRequest(secret, request), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** The running MAC of a signed call's body; `digest()` after the last body byte gives the trailing MAC. */
export function bodyMac(secret: string, signature: string): Hmac {
  return createHmac('sha256', secret).update(`${VERSION}\nbody\n${signature}\n`);
}

/** Signs a request given as a plain header record (names in any case); returns the signature. */
export function signHeaders(secret: string, method: string, target: string, headers: Readonly<Record<string, string>>): string {
  const names = Object.keys(headers);
  if (names.every((name) => name === name.toLowerCase())) {
    return signPeerRequest(secret, { method, target, headerNames: names, header: (name) => (Object.hasOwn(headers, name) ? headers[name] : undefined) });
  }
  const lower = new Map(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
  return signPeerRequest(secret, { method, target, headerNames: lower.keys(), header: (name) => lower.get(name) });
}

/** A call's one-time nonce: 16 random bytes, from a pool (one system call per 512 nonces). */
export const newNonce: () => string = pooledRandomHex(16);
