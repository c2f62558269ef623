/**
 * @module AppError: the single error type that crosses layers. Adapters translate vendor
 * failures into it (keeping the original as `cause`); `http/errors.ts` renders it.
 */
import { ERROR_CODES, type ErrorCode } from './codes.js';

export interface AppErrorOptions {
  /** Small, safe-to-show facts (never secrets). */
  readonly details?: Record<string, unknown>;
  readonly cause?: unknown;
  /** Seconds a client should wait before retrying; rendered as `Retry-After`. */
  readonly retryAfterSec?: number;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;
  readonly retryAfterSec: number | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.retryable = ERROR_CODES[code].retryable;
    this.details = options.details;
    this.retryAfterSec = options.retryAfterSec;
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}

export function hasCode(value: unknown, code: ErrorCode): value is AppError {
  return value instanceof AppError && value.code === code;
}

/**
 * The refusal for a file whose bytes another node holds when this node cannot forward to it (no
 * peers configured, or the entry moved to another node under a request already being served
 * here): PEER_UNAVAILABLE naming the holder. Forwarding itself is decided by services/placement.ts
 * before any body is read, never by catching this.
 */
export function heldElsewhere(instanceId: string, path: string): AppError {
  return new AppError('PEER_UNAVAILABLE', `${path} is held by node ${instanceId}, which this node cannot reach`, {
    details: { instance_id: instanceId },
    retryAfterSec: 5,
  });
}
