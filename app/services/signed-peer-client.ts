/**
 * @module SignedPeerClient: the one object that holds the internal secret. Every call this node
 * makes to another node (forwarded requests of every method, WebSocket transfers relayed to a
 * holder, link redemptions, replica copies, byte moves) goes through `call()`, which refuses a
 * request forwarded too often (the loop guard), builds the peer headers in one place and signs
 * them (domain/peer-signature.ts); every call another node
 * makes to this one is checked by `verify()` and its body by `verifiedBody()`. CallFS's form,
 * the secret itself as a bearer, is checked here too (`isInternalSecret`).
 *
 * Replays: a call carries a one-time nonce and its time, and is addressed to one instance, so
 * any other refuses it. The receiver refuses a time more than `maxSkewMs` away from its clock and
 * a nonce it has seen itself (memory). What else it needs depends on the call:
 * - A call without a body carries the receiver's incarnation (a random id each process draws at
 *   start, learned from the answers of earlier calls and of health probes): it is valid for
 *   that process only, so this process's memory decides alone. No shared store, no round trip
 *   to the home region's primary: a forwarded read costs one round trip to its holder, and
 *   keeps working while home is out. A call naming another incarnation (signed for an earlier
 *   life of this instance) is refused and the answer names the current one; the caller retries
 *   once with it.
 * - A call with a body (it could not be sent again after a refusal) and a call made before the
 *   caller knows the incarnation are also claimed in the cluster's shared nonce store
 *   (PeerNonceStore, kept across restarts for the whole window). When that store cannot answer
 *   (its primary fenced or unreachable during a failover), only calls signed after this process
 *   started are accepted: a call captured before a restart cannot come back after it.
 * Memory holds up to `maxLocalNonces`; a nonce pushed out before its time is up raises a floor,
 * and calls signed at or before the floor are refused, so a full memory never lets a replay in.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { BODY_MAC_BYTES, bodyMac, newNonce, PEER_HEADERS, peerSignatureMatches, signHeaders, type SignedRequest } from '../domain/peer-signature.js';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../observability/logger.js';
import type { PeerClient, PeerResponse } from '../ports/peer-client.js';
import type { PeerNonceStore } from '../ports/peer-nonces.js';
import { NonceClaims } from './nonce-claims.js';

/** A request is forwarded at most this many times (nodes that disagree about a holder cannot loop). */
export const MAX_PEER_HOPS = 2;

export interface PeerCall {
  readonly method: string;
  /** Path and query, already encoded. */
  readonly target: string;
  /** Identity whose permissions the receiver applies. */
  readonly caller: string;
  /** How often this request has been forwarded, this call included (1 for a first forward). */
  readonly hop: number;
  /** Further headers (lower or mixed case); `content-length` becomes the signed body length. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Readable | null;
  readonly signal?: AbortSignal | undefined;
}

/** What a verified call says about itself. */
export interface PeerIdentity {
  readonly caller: string;
  readonly hop: number;
  readonly from: string;
  /** The signature, which keys the body MAC. */
  readonly signature: string;
  readonly hasBody: boolean;
  /** The body's length without its MAC, when the sender knew it. */
  readonly bodyLength: number | undefined;
}

export type PeerVerdict =
  | { readonly ok: true; readonly peer: PeerIdentity }
  | { readonly ok: false; readonly reason: 'malformed' | 'signature' | 'destination' | 'hop' | 'stale' | 'replay' | 'incarnation' };

/** What an incarnation id looks like (hex from newNonce); anything else heard from a peer is ignored. */
const INCARNATION = /^[0-9a-f]{8,64}$/;

export interface SignedPeerClientOptions {
  readonly secret: string;
  /** This node's instance id: the sender of its calls and the only destination it accepts. */
  readonly self: string;
  /** Transport to the other nodes; null on a node with no peers. */
  readonly peers: PeerClient | null;
  /** Cluster-wide nonces; null: this process's memory only. */
  readonly nonces: PeerNonceStore | null;
  /** Largest accepted difference between a call's time and this node's clock. */
  readonly maxSkewMs?: number;
  /** Longest wait for the shared nonce store before the local rules decide alone. */
  readonly nonceTimeoutMs?: number;
  readonly maxLocalNonces?: number;
  readonly now?: () => number;
  readonly logger?: Logger;
}

export class SignedPeerClient {
  readonly #secret: string;
  readonly #secretDigest: Buffer;
  readonly #self: string;
  readonly #peers: PeerClient | null;
  /** Claims in the cluster's shared nonce store, batched; null: this process's memory only. */
  readonly #nonces: NonceClaims | null;
  readonly #maxSkewMs: number;
  readonly #nonceTimeoutMs: number;
  readonly #maxLocalNonces: number;
  readonly #now: () => number;
  readonly #startedAt: number;
  readonly #logger: Logger | undefined;
  /** Nonces this process accepted: when each may be forgotten, and the time its call was signed. */
  readonly #seen = new Map<string, { readonly expiresAt: number; readonly timeMs: number }>();
  /** Calls signed at or before this time are refused: nonces of that age were pushed out of memory early. */
  #floorMs = Number.NEGATIVE_INFINITY;
  /** The incarnation of each peer, as its last answer named it. */
  readonly #incarnations = new Map<string, string>();
  /** This process's incarnation: calls without a body must name it (see the module comment). */
  readonly incarnation: string = newNonce();
  #warnedAt = 0;

  constructor(options: SignedPeerClientOptions) {
    this.#secret = options.secret;
    this.#secretDigest = digest(options.secret);
    this.#self = options.self;
    this.#peers = options.peers;
    this.#maxSkewMs = options.maxSkewMs ?? 30_000;
    this.#nonces = options.nonces === null ? null : new NonceClaims(options.nonces, 2 * this.#maxSkewMs);
    this.#nonceTimeoutMs = options.nonceTimeoutMs ?? 1000;
    this.#maxLocalNonces = options.maxLocalNonces ?? 200_000;
    this.#now = options.now ?? Date.now;
    this.#startedAt = this.#now();
    this.#logger = options.logger;
  }

  /** False on a node without peers: a file held elsewhere cannot be reached from here. */
  get canCall(): boolean {
    return this.#peers !== null;
  }

  endpointOf(instanceId: string): string | undefined {
    return this.#peers?.endpointOf(instanceId);
  }

  /**
   * Sends a signed call to `instanceId`; the answer's body must be consumed or destroyed. A call
   * past MAX_PEER_HOPS is refused (PEER_LOOP) before anything is sent.
   */
  async call(instanceId: string, call: PeerCall): Promise<PeerResponse> {
    if (this.#peers === null) throw new AppError('PEER_UNAVAILABLE', `instance ${instanceId} is not a known peer of this node`, { details: { instance_id: instanceId }, retryAfterSec: 5 });
    if (call.hop > MAX_PEER_HOPS) throw new AppError('PEER_LOOP', `request forwarded ${call.hop - 1} times; nodes disagree about who holds it`);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(call.headers ?? {})) {
      const lower = name.toLowerCase();
      if (lower === 'content-length') headers[PEER_HEADERS.length] = value;
      else if (!lower.startsWith('x-callfs-peer-')) headers[lower] = value;
    }
    const body = call.body ?? null;
    headers[PEER_HEADERS.caller] = call.caller;
    headers[PEER_HEADERS.hop] = String(call.hop);
    headers[PEER_HEADERS.from] = this.#self;
    headers[PEER_HEADERS.to] = instanceId;
    headers[PEER_HEADERS.body] = body === null ? 'none' : 'mac';
    // Only a call without a body names the incarnation: a refusal can then be answered by sending it again.
    const known = body === null ? this.#incarnations.get(instanceId) : undefined;
    const response = await this.#send(this.#peers, instanceId, call, headers, body, known);
    const current = this.#learn(instanceId, response);
    if (known === undefined || response.status !== 401 || current === undefined || current === known) return response;
    // The peer restarted since its last answer: the call was refused unread; once more, for the new process.
    response.body.resume();
    const again = await this.#send(this.#peers, instanceId, call, headers, null, current);
    this.#learn(instanceId, again);
    return again;
  }

  /** Signs and sends one attempt of a call (fresh time and nonce each time). */
  async #send(peers: PeerClient, instanceId: string, call: PeerCall, base: Readonly<Record<string, string>>, body: Readable | null, incarnation: string | undefined): Promise<PeerResponse> {
    const headers: Record<string, string> = { ...base };
    headers[PEER_HEADERS.time] = String(this.#now());
    headers[PEER_HEADERS.nonce] = newNonce();
    if (incarnation !== undefined) headers[PEER_HEADERS.incarnation] = incarnation;
    const signature = signHeaders(this.#secret, call.method, call.target, headers);
    headers[PEER_HEADERS.signature] = signature;
    return peers.request(instanceId, {
      method: call.method,
      target: call.target,
      headers,
      body: body === null ? null : withMac(body, bodyMac(this.#secret, signature)),
      signal: call.signal,
    });
  }

  /**
   * Takes note of the incarnation in any answer of `instanceId` (its health probes answer with
   * it too), so even the first call after the peer started can be checked in its memory alone.
   */
  heard(instanceId: string, headers: PeerResponse['headers']): void {
    this.#learn(instanceId, { headers });
  }

  /** Remembers the incarnation a peer's answer names; returns it (undefined when it names none). */
  #learn(instanceId: string, response: Pick<PeerResponse, 'headers'>): string | undefined {
    const named = response.headers[PEER_HEADERS.incarnation];
    if (typeof named !== 'string' || !INCARNATION.test(named)) return undefined;
    this.#incarnations.set(instanceId, named);
    return named;
  }

  /**
   * Checks a call from another node: signature over method, target and signed headers, this
   * node as destination, a hop count of at least 1, time within the window, nonce never seen.
   */
  async verify(request: SignedRequest): Promise<PeerVerdict> {
    const signature = request.header(PEER_HEADERS.signature);
    const caller = request.header(PEER_HEADERS.caller) ?? '';
    const nonce = request.header(PEER_HEADERS.nonce) ?? '';
    const timeMs = Number(request.header(PEER_HEADERS.time));
    const hop = Number(request.header(PEER_HEADERS.hop));
    const bodyMode = request.header(PEER_HEADERS.body);
    const lengthHeader = request.header(PEER_HEADERS.length);
    if (signature === undefined || caller === '' || nonce === '' || nonce.length > 128 || !Number.isSafeInteger(timeMs) || !Number.isSafeInteger(hop)) return { ok: false, reason: 'malformed' };
    if ((bodyMode !== 'none' && bodyMode !== 'mac') || (lengthHeader !== undefined && !/^\d{1,15}$/.test(lengthHeader))) return { ok: false, reason: 'malformed' };
    if (!peerSignatureMatches(this.#secret, request, signature)) return { ok: false, reason: 'signature' };
    if (request.header(PEER_HEADERS.to) !== this.#self) return { ok: false, reason: 'destination' };
    if (hop < 1) return { ok: false, reason: 'hop' };
    const now = this.#now();
    if (Math.abs(now - timeMs) > this.#maxSkewMs) return { ok: false, reason: 'stale' };
    const incarnation = request.header(PEER_HEADERS.incarnation);
    if (incarnation !== undefined && incarnation !== this.incarnation) return { ok: false, reason: 'incarnation' };
    if (!(await this.#claim(nonce, timeMs, now, incarnation !== undefined))) return { ok: false, reason: 'replay' };
    return {
      ok: true,
      peer: {
        caller,
        hop,
        from: request.header(PEER_HEADERS.from) ?? '',
        signature,
        hasBody: bodyMode === 'mac',
        bodyLength: lengthHeader === undefined ? undefined : Number(lengthHeader),
      },
    };
  }

  /**
   * The body of a verified call without its MAC. The stream fails with AUTHENTICATION_FAILED
   * instead of ending when the MAC does not match, so a write reading it never commits. A call
   * signed as bodiless gets an empty body whatever was sent.
   */
  verifiedBody(raw: Readable, peer: PeerIdentity): Readable {
    if (!peer.hasBody) return Readable.from([]);
    // Lazy: nothing is read until the consumer reads, and the failure reaches the consumer.
    return Readable.from(checkedBody(raw, bodyMac(this.#secret, peer.signature), peer.bodyLength), { objectMode: false });
  }

  /** True when an Authorization header carries the internal secret itself (CallFS's internal form). */
  isInternalSecret(header: string | undefined): boolean {
    if (header === undefined) return false;
    const token = (header.startsWith('Bearer ') ? header.slice(7) : header).trim();
    return token !== '' && timingSafeEqual(this.#secretDigest, digest(token));
  }

  async close(): Promise<void> {
    await this.#peers?.close();
  }

  /**
   * Records a nonce in memory and, unless the call was signed for this process (`scoped`), in the
   * cluster; false when either has seen it.
   */
  async #claim(nonce: string, timeMs: number, now: number, scoped: boolean): Promise<boolean> {
    this.#forgetOld(now);
    if (this.#seen.has(nonce)) return false;
    if (timeMs <= this.#floorMs) return false;
    this.#seen.set(nonce, { expiresAt: now + 2 * this.#maxSkewMs, timeMs });
    if (scoped) return true;
    if (this.#nonces === null) return timeMs >= this.#startedAt;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.#nonces.claim(nonce),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error('the shared nonce store did not answer in time')), this.#nonceTimeoutMs);
        }),
      ]);
    } catch (error) {
      if (now - this.#warnedAt > 60_000) {
        this.#warnedAt = now;
        this.#logger?.warn('peer nonces are checked by this node alone (shared store unavailable)', { error: error instanceof Error ? error.message : String(error) });
      }
      return timeMs >= this.#startedAt;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Drops nonces past their time, and the oldest ones while memory is full (raising the floor). */
  #forgetOld(now: number): void {
    for (const [nonce, seen] of this.#seen) {
      const expired = seen.expiresAt <= now;
      if (!expired && this.#seen.size < this.#maxLocalNonces) break;
      if (!expired && seen.timeMs > this.#floorMs) this.#floorMs = seen.timeMs;
      this.#seen.delete(nonce);
    }
  }
}

/** The body followed by its MAC; a failing body (the client went away) fails the result too. */
function withMac(body: Readable, mac: ReturnType<typeof bodyMac>): Readable {
  const appender = new MacAppender(mac);
  body.on('error', (error) => appender.destroy(error));
  return body.pipe(appender);
}

/** Passes a body through and appends its MAC. */
class MacAppender extends Transform {
  constructor(private readonly mac: ReturnType<typeof bodyMac>) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.mac.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.mac.digest());
  }
}

/**
 * A body minus its last BODY_MAC_BYTES, which must be the MAC of what came before; else it fails
 * instead of ending. Bytes beyond the signed length fail it at once (a body made longer).
 */
async function* checkedBody(raw: Readable, mac: ReturnType<typeof bodyMac>, signedLength: number | undefined): AsyncGenerator<Buffer> {
  let tail = Buffer.alloc(0);
  let passed = 0;
  const pass = (data: Buffer): Buffer => {
    passed += data.length;
    if (signedLength !== undefined && passed > signedLength) throw new AppError('AUTHENTICATION_FAILED', 'authentication failed');
    mac.update(data);
    return data;
  };
  for await (const piece of raw) {
    const chunk = piece as Buffer;
    let data: Buffer;
    if (chunk.length < BODY_MAC_BYTES) {
      // Small chunks (rare): join them with the held bytes and pass on what cannot be the MAC.
      const joined = Buffer.concat([tail, chunk]);
      const cut = Math.max(0, joined.length - BODY_MAC_BYTES);
      tail = Buffer.from(joined.subarray(cut));
      data = joined.subarray(0, cut);
    } else {
      // The held bytes were not the end after all; this chunk's last bytes are held instead.
      if (tail.length > 0) yield pass(tail);
      tail = Buffer.from(chunk.subarray(chunk.length - BODY_MAC_BYTES));
      data = chunk.subarray(0, chunk.length - BODY_MAC_BYTES);
    }
    if (data.length > 0) yield pass(data);
  }
  if (tail.length !== BODY_MAC_BYTES || !timingSafeEqual(mac.digest(), tail)) throw new AppError('AUTHENTICATION_FAILED', 'authentication failed');
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
