/**
 * @module GuardedPeerClient: a PeerClient that keeps a circuit breaker per peer. Passive checks:
 * every call's outcome feeds the breaker (only "could not reach the node" counts as a failure;
 * a peer answering 5xx is alive). Active checks: `GET /health` on every known peer at an
 * interval; their answers' headers go to a listener too (`onProbeAnswer`). While a peer's breaker
 * is open, calls fail at once with PEER_UNAVAILABLE naming the peer and a `Retry-After`, instead
 * of every request waiting out a connect timeout.
 */
import { CircuitBreaker, type BreakerOptions, type BreakerSnapshot } from '../domain/circuit-breaker.js';
import { AppError, hasCode } from '../errors/app-error.js';
import type { PeerClient, PeerRequest, PeerResponse } from '../ports/peer-client.js';

export interface PeerHealthOptions extends BreakerOptions {
  /** Interval of active probes; 0 disables them. */
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  /** The peers to probe (read at every round, so joining members are picked up). */
  readonly peerIds: () => readonly string[];
  readonly now?: () => number;
}

/** Told the headers of every answer to an active probe (e.g. the peer's incarnation). */
export type ProbeListener = (instanceId: string, headers: PeerResponse['headers']) => void;

export class GuardedPeerClient implements PeerClient {
  readonly #breakers = new Map<string, CircuitBreaker>();
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;
  #probing = false;
  #probeListener: ProbeListener | null = null;

  /** Hands the headers of each probe's answer to `listener` (one listener; a later call replaces it). */
  onProbeAnswer(listener: ProbeListener): void {
    this.#probeListener = listener;
  }

  constructor(
    private readonly inner: PeerClient,
    private readonly options: PeerHealthOptions,
  ) {
    this.#now = options.now ?? Date.now;
  }

  endpointOf(instanceId: string): string | undefined {
    return this.inner.endpointOf(instanceId);
  }

  async request(instanceId: string, request: PeerRequest): Promise<PeerResponse> {
    const breaker = this.#breaker(instanceId);
    const admission = breaker.admit(this.#now());
    if (!admission.ok) {
      throw new AppError('PEER_UNAVAILABLE', `the node holding this file (${instanceId}) is down; retry in ${admission.retryAfterSec}s`, {
        details: { instance_id: instanceId },
        retryAfterSec: admission.retryAfterSec,
      });
    }
    try {
      const response = await this.inner.request(instanceId, request);
      breaker.succeeded(this.#now());
      return response;
    } catch (error) {
      if (hasCode(error, 'PEER_UNAVAILABLE') && !request.signal?.aborted) breaker.failed(this.#now(), reasonOf(error));
      throw error;
    }
  }

  /** What this node currently believes about a peer. */
  health(instanceId: string): BreakerSnapshot {
    return this.#breaker(instanceId).snapshot(this.#now());
  }

  /** Starts the active probes. */
  start(): void {
    if (this.options.probeIntervalMs <= 0 || this.#timer !== null) return;
    this.#timer = setInterval(() => void this.probeAll(), this.options.probeIntervalMs);
    this.#timer.unref();
  }

  /** One round of probes (also called by tests). Rounds never overlap. */
  async probeAll(): Promise<void> {
    if (this.#probing) return;
    this.#probing = true;
    try {
      await Promise.all(this.options.peerIds().map((id) => this.#probe(id)));
    } finally {
      this.#probing = false;
    }
  }

  async close(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.inner.close();
  }

  async #probe(instanceId: string): Promise<void> {
    const breaker = this.#breaker(instanceId);
    try {
      const response = await this.inner.request(instanceId, {
        method: 'GET',
        target: '/health',
        headers: {},
        body: null,
        signal: AbortSignal.timeout(this.options.probeTimeoutMs),
      });
      response.body.resume();
      this.#probeListener?.(instanceId, response.headers);
      if (response.status === 200) breaker.succeeded(this.#now());
      else breaker.failed(this.#now(), `HTTP ${response.status}`);
    } catch (error) {
      breaker.failed(this.#now(), reasonOf(error));
    }
  }

  #breaker(instanceId: string): CircuitBreaker {
    let breaker = this.#breakers.get(instanceId);
    if (breaker === undefined) {
      breaker = new CircuitBreaker(this.options);
      this.#breakers.set(instanceId, breaker);
    }
    return breaker;
  }
}

/** A short, secret-free reason: the network error code when there is one. */
function reasonOf(error: unknown): string {
  const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
  if (typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string') return cause.code;
  if (cause instanceof Error && cause.name === 'TimeoutError') return 'TIMEOUT';
  return error instanceof AppError ? error.code : 'ERROR';
}
