/** @module Translation of `pg` failures into the MetadataStore port's codes (vendor errors never cross). */
import { AppError, isAppError } from '../../errors/app-error.js';
import { isEpochRefusal } from '../../fencing/index.js';

const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);

export function translatePgError(error: unknown): unknown {
  if (isAppError(error)) return error;
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  const message = error instanceof Error ? error.message : '';
  if (code === '23505') return new AppError('FILE_ALREADY_EXISTS', 'the path already exists', { cause: error });
  // Raised by the epoch guard (app/fencing): a fenced database, or a writer's lock of another epoch.
  // A read-only server refusing a write is a fenced former primary (the drill makes it read-only)
  // or a standby the pool has not moved off yet: either way no write happened, and a retry
  // reaches the new primary once the node has followed it.
  if (isEpochRefusal(code) || code === '25006') return fencedError(error);
  if (
    UNAVAILABLE_ERRNO.has(code) ||
    code.startsWith('08') || // connection exceptions
    code.startsWith('57P') || // admin shutdown, crash shutdown, cannot connect now
    code === '57014' || // statement timeout / cancel
    code === '53300' || // too many connections
    /Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|connect ECONNREFUSED/i.test(message)
  ) {
    return new AppError('METADATA_UNAVAILABLE', 'the metadata database is unavailable', { cause: error, retryAfterSec: 1 });
  }
  return error;
}

export function fencedError(cause?: unknown): AppError {
  return new AppError('FENCED', "this region's metadata is fenced by a failover; nothing was changed, retry shortly", { cause, retryAfterSec: 1 });
}
