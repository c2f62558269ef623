/**
 * @module UndiciPeerClient: one keep-alive undici Pool per peer. Request and response bodies
 * stream (Node Readables); connect, response-headers and body-idle timeouts bound every call;
 * the caller's AbortSignal cancels the peer request. A peer that announced its own certificates
 * (`certificatesOf`: self-signed https, trust rooted in the member registry) is reached over TLS
 * trusting exactly those; a certificate that does not verify refuses the call before any byte of
 * the request is sent, and the call fails as if the peer were down.
 */
import { Pool } from 'undici';
import { splitPemBundle } from '../tls/certificate.js';
import { AppError } from '../../errors/app-error.js';
import type { PeerClient, PeerRequest, PeerResponse } from '../../ports/peer-client.js';

export interface UndiciPeerClientOptions {
  /** Base URL of a peer (`http://10.0.0.2:8443`), looked up on every call so members may come and go. */
  readonly endpointOf: (instanceId: string) => string | undefined;
  readonly connectTimeoutMs?: number;
  readonly headersTimeoutMs?: number;
  /** Longest pause between two body chunks. */
  readonly bodyIdleTimeoutMs?: number;
  readonly connectionsPerPeer?: number;
  readonly rejectUnauthorized?: boolean;
  /** CA certificates (PEM) trusted for https peers, instead of the system's. */
  readonly ca?: string | Buffer;
  /**
   * The PEM bundle a peer announced for its https listener, looked up on every call; when given,
   * only these certificates are trusted for that peer (not `ca`, not the system's).
   */
  readonly certificatesOf?: (instanceId: string) => string | undefined;
  /** Told when a peer is refused for its TLS identity (once per peer and reason, until it changes). */
  readonly onRefused?: (instanceId: string, reason: string) => void;
}

/** TLS failures: the peer did not prove the identity it was trusted with (or spoke no TLS at all). */
const TLS_REFUSAL_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'EPROTO',
]);

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
]);

export class UndiciPeerClient implements PeerClient {
  /** instance id → its pool and the base URL the pool was made for. */
  readonly #pools = new Map<string, { pool: Pool; endpoint: string; certificates: string | undefined; prefix: string }>();
  readonly #options: UndiciPeerClientOptions;
  /** The last TLS refusal reported per peer, so a peer probed every second is logged once. */
  readonly #refused = new Map<string, string>();

  constructor(options: UndiciPeerClientOptions) {
    this.#options = options;
  }

  endpointOf(instanceId: string): string | undefined {
    return this.#options.endpointOf(instanceId)?.replace(/\/+$/, '');
  }

  async request(instanceId: string, request: PeerRequest): Promise<PeerResponse> {
    const { pool, prefix } = this.#pool(instanceId);
    try {
      const response = await pool.request({
        method: request.method as 'GET',
        path: prefix + request.target,
        headers: request.headers,
        body: request.body,
        signal: request.signal,
        headersTimeout: this.#options.headersTimeoutMs ?? 30_000,
        bodyTimeout: this.#options.bodyIdleTimeoutMs ?? 60_000,
      });
      this.#refused.delete(instanceId);
      return { status: response.statusCode, headers: response.headers, body: response.body };
    } catch (error) {
      throw this.#translate(error, instanceId);
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#pools.values()].map(({ pool }) => pool.close()));
    this.#pools.clear();
  }

  /** The pool for a peer's current endpoint; a peer that moved gets a new pool, the old one drains. */
  #pool(instanceId: string): { pool: Pool; prefix: string } {
    const endpoint = this.endpointOf(instanceId);
    if (endpoint === undefined) {
      throw new AppError('PEER_UNAVAILABLE', `instance ${instanceId} is not a known peer of this node`, { details: { instance_id: instanceId }, retryAfterSec: 5 });
    }
    const certificates = this.#options.certificatesOf?.(instanceId);
    const existing = this.#pools.get(instanceId);
    if (existing?.endpoint === endpoint && existing.certificates === certificates) return existing;
    if (existing) void existing.pool.close().catch(() => undefined);
    const url = new URL(endpoint);
    const pinned = certificates === undefined ? [] : splitPemBundle(certificates);
    if (certificates !== undefined && (url.protocol !== 'https:' || pinned.length === 0)) {
      // A member that announces a certificate serves https: never fall back to clear text.
      this.#pools.delete(instanceId);
      const reason = url.protocol !== 'https:' ? 'announces a certificate but a non-https URL' : 'announced no readable certificate';
      this.#report(instanceId, reason);
      throw new AppError('PEER_UNAVAILABLE', `the node holding this file (${instanceId}) is unavailable`, { details: { instance_id: instanceId }, retryAfterSec: 5 });
    }
    const trust = pinned.length > 0 ? { ca: pinned, rejectUnauthorized: true } : { rejectUnauthorized: this.#options.rejectUnauthorized ?? true, ...(this.#options.ca !== undefined ? { ca: this.#options.ca } : {}) };
    const pool = new Pool(url.origin, {
      connections: this.#options.connectionsPerPeer ?? 64,
      connect: { timeout: this.#options.connectTimeoutMs ?? 3000, ...trust },
      keepAliveTimeout: 30_000,
    });
    const entry = { pool, endpoint, certificates, prefix: url.pathname === '/' ? '' : url.pathname };
    this.#pools.set(instanceId, entry);
    return entry;
  }

  #report(instanceId: string, reason: string): void {
    if (this.#refused.get(instanceId) === reason) return;
    this.#refused.set(instanceId, reason);
    this.#options.onRefused?.(instanceId, reason);
  }

  #translate(error: unknown, instanceId: string): unknown {
    if (error instanceof AppError) return error;
    const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
    if (TLS_REFUSAL_CODES.has(code) || code.startsWith('ERR_SSL_')) this.#report(instanceId, `its TLS identity did not verify (${code})`);
    if (UNAVAILABLE_CODES.has(code) || TLS_REFUSAL_CODES.has(code) || code.startsWith('ERR_SSL_')) {
      return new AppError('PEER_UNAVAILABLE', `the node holding this file (${instanceId}) is unavailable`, {
        details: { instance_id: instanceId },
        retryAfterSec: 5,
        cause: error,
      });
    }
    return error;
  }
}
