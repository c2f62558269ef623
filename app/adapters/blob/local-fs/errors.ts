/**
 * @module The local store's failures in the port's terms: errno codes of the file system mapped to
 * AppError codes, and an upload aborted by its signal reported with the signal's reason.
 */
import { AppError, isAppError } from '../../../errors/app-error.js';

export const SYMLINK_REFUSED = 'symbolic links inside the storage root are not followed';

export function errnoOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

/** Maps file-system failures to the port's codes. */
export function translate(error: unknown, key: string): unknown {
  if (isAppError(error)) return error;
  switch (errnoOf(error)) {
    case 'ENOENT':
      return new AppError('FILE_NOT_FOUND', `no bytes stored for /${key}`, { cause: error });
    case 'EEXIST':
      return new AppError('FILE_ALREADY_EXISTS', `bytes already stored for /${key}`, { cause: error });
    case 'EISDIR':
      return new AppError('IS_A_DIRECTORY', `/${key} is a directory on disk`, { cause: error });
    case 'ENOTDIR':
      return new AppError('PARENT_NOT_DIRECTORY', `a parent of /${key} is a file on disk`, { cause: error });
    case 'ELOOP':
      return new AppError('INVALID_PATH', SYMLINK_REFUSED, { cause: error });
    case 'ENAMETOOLONG':
      return new AppError('INVALID_PATH', 'the path is too long for the local disk', { cause: error });
    case 'ENOSPC':
    case 'EDQUOT':
      return new AppError('INSUFFICIENT_STORAGE', 'the local disk is full', { cause: error, retryAfterSec: 30 });
    case 'ECONNRESET':
    case 'ERR_STREAM_PREMATURE_CLOSE':
    case 'ABORT_ERR':
      return new AppError('CLIENT_CLOSED_REQUEST', 'the upload was interrupted', { cause: error });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
    case 'EIO':
      return new AppError('STORAGE_UNAVAILABLE', 'the local disk refused the operation', { cause: error });
    default:
      return error;
  }
}

/** A pipeline aborted by our signal reports AbortError; surface the signal's reason instead. */
export function abortReason(error: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted && errnoOf(error) === 'ABORT_ERR' && signal.reason !== undefined) {
    return isAppError(signal.reason) ? signal.reason : new AppError('CLIENT_CLOSED_REQUEST', 'the upload was interrupted', { cause: signal.reason });
  }
  return error;
}
