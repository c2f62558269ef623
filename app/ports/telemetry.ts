/**
 * @module Telemetry: what services report about their work (counts and durations), without
 * knowing how it is exported. The Prometheus implementation lives in `observability/metrics.ts`.
 */
import type { BackendType } from '../domain/entry.js';

export type FileOperation = 'create' | 'read' | 'update' | 'delete' | 'rename' | 'list';
export type LinkOutcome = 'success' | 'expired' | 'invalid' | 'not_found' | 'used';

export interface Telemetry {
  fileOperation(operation: FileOperation, backend: BackendType): void;
  backendOperation(backend: BackendType, operation: string, seconds: number): void;
  lockWait(operation: string, status: 'acquired' | 'timeout' | 'error', seconds: number): void;
  linkGenerated(): void;
  linkConsumed(outcome: LinkOutcome): void;
  cacheLookup(hit: boolean): void;
}

/** Telemetry that records nothing (tests, tools). */
export const NO_TELEMETRY: Telemetry = {
  fileOperation: () => undefined,
  backendOperation: () => undefined,
  lockWait: () => undefined,
  linkGenerated: () => undefined,
  linkConsumed: () => undefined,
  cacheLookup: () => undefined,
};
