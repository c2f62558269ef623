/** @module The services the HTTP layer calls, assembled by main.ts (or by tests). */
import type { Authenticator } from '../services/authenticator.js';
import type { DirectoryService } from '../services/directories.js';
import type { FileService } from '../services/files.js';
import type { HealthService } from '../services/health.js';
import type { LinkService } from '../services/links.js';
import type { MoveService } from '../services/moves.js';
import type { NodeMetrics } from '../observability/metrics.js';
import type { Logger } from '../observability/logger.js';

export interface AppServices {
  readonly files: FileService;
  readonly moves: MoveService;
  readonly directories: DirectoryService;
  readonly links: LinkService;
  readonly health: HealthService;
  readonly authenticator: Authenticator;
  readonly metrics: NodeMetrics;
  readonly logger: Logger;
  /** Base URL of a peer node by instance id (for CallFS's `update_url`), if known. */
  readonly peerEndpointOf: (instanceId: string) => string | undefined;
}

export interface AppOptions {
  readonly instanceId: string;
  readonly region: string;
  /** True when the listener is TLS (adds Strict-Transport-Security). */
  readonly tls: boolean;
  readonly maxFileBytes: number;
  readonly rateLimits: {
    readonly linkGeneratePerSec: number;
    readonly linkGenerateBurst: number;
    readonly downloadPerSec: number;
    readonly downloadBurst: number;
  };
}
