/**
 * @module The Hono environment of the node: Node bindings (raw request/response, used to keep
 * bodies on Node streams) and per-request variables set by middleware.
 */
import type { HttpBindings } from '@hono/node-server';
import type { Readable } from 'node:stream';
import type { PeerIdentity } from '../services/signed-peer-client.js';
import type { AppServices } from './services.js';

export interface HonoEnv {
  /** Absent when the app is driven in-process with `app.request()` (tests). */
  Bindings: Partial<HttpBindings>;
  Variables: {
    requestId: string;
    /** A well-formed W3C `traceparent` the request came with (passed on to peers). */
    traceparent: string;
    userId: string;
    services: AppServices;
    /** Status of a response written straight to the Node response (bypassing Hono's Response). */
    sentStatus: number;
    /** Route template for metrics, e.g. `/v1/files/*`. */
    routeTemplate: string;
    /** Forwarding hops so far when the request came from a peer (0 from a client). */
    peerHop: number;
    /** Instance id of the signing peer, when the request came from one. */
    peerFrom: string;
    /** The verified peer call this request is (signature, body MAC key, body length). */
    peer: PeerIdentity;
    /** The request body once opened (the MAC-checked body of a peer call). */
    openedBody: Readable;
    /** Authenticated as an internal call (`/v1/internal/*`): peer signature or internal secret. */
    internalAuth: boolean;
    /** Fingerprint of the entry a forwarded read was decided on, sent to the holder. */
    vouchedEntry: string;
    /** Consistency token a write's commit returned (covers the commit; saves asking the primary again). */
    writeToken: string;
  };
}
