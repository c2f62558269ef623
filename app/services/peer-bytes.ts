/**
 * @module PeerBytes: asks another node to move bytes it holds on its own disk, for directory
 * moves whose subtree has files held by several nodes. The request is signed like every
 * node-to-node call and names the caller (already authorized by the node doing the move).
 */
import { AppError } from '../errors/app-error.js';
import type { SignedPeerClient } from './signed-peer-client.js';

/** Internal endpoint that moves a subtree of a node's local-disk bytes. */
export const MOVE_TARGET = '/v1/internal/moves';

export interface RemoteBytes {
  /** True when this node believes `instanceId` is reachable now. */
  isUp(instanceId: string): boolean;
  /** Moves `from` to `to` on `instanceId`'s disk; throws PEER_UNAVAILABLE when it cannot. */
  move(instanceId: string, from: string, to: string, caller: string): Promise<void>;
}

export class PeerBytes implements RemoteBytes {
  constructor(
    private readonly peers: SignedPeerClient,
    readonly isUp: (instanceId: string) => boolean,
  ) {}

  async move(instanceId: string, from: string, to: string, caller: string): Promise<void> {
    const target = `${MOVE_TARGET}?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
    const response = await this.peers.call(instanceId, {
      method: 'POST',
      target,
      caller,
      hop: 1,
      body: null,
      signal: AbortSignal.timeout(30_000),
    });
    response.body.resume();
    if (response.status !== 204) {
      throw new AppError('PEER_UNAVAILABLE', `node ${instanceId} could not move its bytes of ${from} (HTTP ${response.status})`, {
        details: { instance_id: instanceId },
        retryAfterSec: 5,
      });
    }
  }
}
