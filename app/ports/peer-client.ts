/**
 * @module PeerClient: HTTP requests from this node to another node of the cluster, streaming
 * both ways. Adapter: undici (`adapters/peers/undici.ts`), a keep-alive pool per peer with
 * connect / headers / body timeouts.
 *
 * Failure translation: unknown instance, refused or timed-out connection, reset → AppError
 * PEER_UNAVAILABLE (details.instance_id names the holder).
 */
import type { Readable } from 'node:stream';

export interface PeerRequest {
  readonly method: string;
  /** Path and query, already encoded, e.g. `/v1/files/a%20b.txt?x=1`. */
  readonly target: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Readable | null;
  readonly signal?: AbortSignal | undefined;
}

export interface PeerResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Must be consumed or destroyed by the caller. */
  readonly body: Readable;
}

export interface PeerClient {
  /** Base URL of a peer, or undefined when the instance is unknown. */
  endpointOf(instanceId: string): string | undefined;
  request(instanceId: string, request: PeerRequest): Promise<PeerResponse>;
  close(): Promise<void>;
}
