/**
 * @module UndiciPeerClient: one keep-alive undici Pool per peer. Request and response bodies
 * stream (Node Readables); connect, response-headers and body-idle timeouts bound every call;
 * the caller's AbortSignal cancels the peer request.
 */
import { Pool } from 'undici';
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
}

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
  readonly #pools = new Map<string, { pool: Pool; endpoint: string; prefix: string }>();
  readonly #options: UndiciPeerClientOptions;

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
    const existing = this.#pools.get(instanceId);
    if (existing?.endpoint === endpoint) return existing;
    if (existing) void existing.pool.close().catch(() => undefined);
    const url = new URL(endpoint);
    const pool = new Pool(url.origin, {
      connections: this.#options.connectionsPerPeer ?? 64,
      connect: {
        timeout: this.#options.connectTimeoutMs ?? 3000,
        rejectUnauthorized: this.#options.rejectUnauthorized ?? true,
        ...(this.#options.ca !== undefined ? { ca: this.#options.ca } : {}),
      },
      keepAliveTimeout: 30_000,
    });
    const entry = { pool, endpoint, prefix: url.pathname === '/' ? '' : url.pathname };
    this.#pools.set(instanceId, entry);
    return entry;
  }

  #translate(error: unknown, instanceId: string): unknown {
    if (error instanceof AppError) return error;
    const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
    if (UNAVAILABLE_CODES.has(code)) {
      return new AppError('PEER_UNAVAILABLE', `the node holding this file (${instanceId}) is unavailable`, {
        details: { instance_id: instanceId },
        retryAfterSec: 5,
        cause: error,
      });
    }
    return error;
  }
}
