/**
 * Signed node-to-node calls made by hand, as a node would send them (and as an attacker who
 * captured one would replay them): the headers of domain/peer-signature.ts signed with the test
 * secret, and a body followed by its MAC.
 */
import { bodyMac, newNonce, PEER_HEADERS, signHeaders } from '../../app/domain/peer-signature.js';
import { SECRETS } from './test-node.js';

export interface HandSignedCall {
  readonly method: string;
  readonly target: string;
  readonly to: string;
  readonly from?: string;
  readonly caller?: string;
  readonly hop?: number;
  readonly timeMs?: number;
  /** The body; its MAC is appended to `body` of the result. */
  readonly body?: Buffer;
  /** Further signed headers (e.g. range, if-match). */
  readonly headers?: Record<string, string>;
  readonly secret?: string;
}

/** Headers and wire body of a signed call. */
export function signCall(call: HandSignedCall): { headers: Record<string, string>; body: Buffer | undefined } {
  const headers: Record<string, string> = {
    ...call.headers,
    [PEER_HEADERS.caller]: call.caller ?? 'api-user-0',
    [PEER_HEADERS.hop]: String(call.hop ?? 1),
    [PEER_HEADERS.from]: call.from ?? 'test-peer',
    [PEER_HEADERS.to]: call.to,
    [PEER_HEADERS.time]: String(call.timeMs ?? Date.now()),
    [PEER_HEADERS.nonce]: newNonce(),
    [PEER_HEADERS.body]: call.body === undefined ? 'none' : 'mac',
  };
  if (call.body !== undefined) headers[PEER_HEADERS.length] = String(call.body.length);
  const secret = call.secret ?? SECRETS.internal;
  const signature = signHeaders(secret, call.method, call.target, headers);
  headers[PEER_HEADERS.signature] = signature;
  if (call.body === undefined) return { headers, body: undefined };
  const mac = bodyMac(secret, signature).update(call.body).digest();
  return { headers, body: Buffer.concat([call.body, mac]) };
}
