/**
 * @module Signatures on node-to-node requests. Instead of sending the shared internal secret
 * as a bearer (CallFS), a node signs each forwarded request with HMAC-SHA256 over the method,
 * the path with query, the time, a one-time nonce, the original caller's identity and the hop
 * count; the receiving node checks freshness, refuses replayed nonces and applies the caller's
 * own permissions.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface SignedFields {
  readonly method: string;
  /** Raw request target: path and query exactly as sent. */
  readonly target: string;
  readonly timeMs: number;
  readonly nonce: string;
  readonly caller: string;
  readonly hop: number;
  /** Instance id of the signing node. */
  readonly from: string;
}

export const PEER_HEADERS = {
  caller: 'x-callfs-peer-caller',
  time: 'x-callfs-peer-time',
  nonce: 'x-callfs-peer-nonce',
  hop: 'x-callfs-peer-hop',
  from: 'x-callfs-peer-from',
  signature: 'x-callfs-peer-signature',
} as const;

function canonical(fields: SignedFields): string {
  return [fields.method.toUpperCase(), fields.target, String(fields.timeMs), fields.nonce, fields.caller, String(fields.hop), fields.from].join('\n');
}

export function signPeerRequest(secret: string, fields: SignedFields): string {
  return createHmac('sha256', secret).update(canonical(fields)).digest('hex');
}

export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

/** The headers of a freshly signed node-to-node request (time = now, new nonce). */
export function signedPeerHeaders(secret: string, request: Omit<SignedFields, 'timeMs' | 'nonce'>): Record<string, string> {
  const fields: SignedFields = { ...request, timeMs: Date.now(), nonce: newNonce() };
  return {
    [PEER_HEADERS.caller]: fields.caller,
    [PEER_HEADERS.time]: String(fields.timeMs),
    [PEER_HEADERS.nonce]: fields.nonce,
    [PEER_HEADERS.hop]: String(fields.hop),
    [PEER_HEADERS.from]: fields.from,
    [PEER_HEADERS.signature]: signPeerRequest(secret, fields),
  };
}

/** Constant-time comparison of a received signature with the expected one. */
export function peerSignatureMatches(secret: string, fields: SignedFields, signature: string): boolean {
  const expected = Buffer.from(signPeerRequest(secret, fields), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  return expected.length === given.length && timingSafeEqual(expected, given);
}
