/**
 * @module The one table of error codes. Every failure a client can see carries one of these
 * codes; the HTTP status and whether a retry can help are looked up here, never passed by hand.
 * Codes shared with CallFS keep CallFS's spelling and status (see docs/errors.md).
 */
export const ERROR_CODES = {
  BAD_REQUEST: { status: 400, retryable: false },
  INVALID_PATH: { status: 400, retryable: false },
  IS_A_DIRECTORY: { status: 400, retryable: false },
  NOT_A_DIRECTORY: { status: 400, retryable: false },
  INCOMPLETE_BODY: { status: 400, retryable: false },
  AUTHENTICATION_FAILED: { status: 401, retryable: false },
  PERMISSION_DENIED: { status: 403, retryable: false },
  FILE_NOT_FOUND: { status: 404, retryable: false },
  ROUTE_NOT_FOUND: { status: 404, retryable: false },
  LINK_NOT_FOUND: { status: 404, retryable: false },
  METHOD_NOT_ALLOWED: { status: 405, retryable: false },
  FILE_ALREADY_EXISTS: { status: 409, retryable: false },
  DIRECTORY_NOT_EMPTY: { status: 409, retryable: false },
  PARENT_NOT_DIRECTORY: { status: 409, retryable: false },
  LOCK_LOST: { status: 409, retryable: true },
  LINK_EXPIRED: { status: 410, retryable: false },
  LINK_USED: { status: 410, retryable: false },
  LINK_INVALID: { status: 410, retryable: false },
  PRECONDITION_FAILED: { status: 412, retryable: false },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false },
  RANGE_NOT_SATISFIABLE: { status: 416, retryable: false },
  RATE_LIMIT_EXCEEDED: { status: 429, retryable: true },
  CLIENT_CLOSED_REQUEST: { status: 499, retryable: true },
  INTERNAL_ERROR: { status: 500, retryable: false },
  PEER_LOOP: { status: 508, retryable: false },
  PEER_UNAVAILABLE: { status: 503, retryable: true },
  METADATA_UNAVAILABLE: { status: 503, retryable: true },
  LOCK_UNAVAILABLE: { status: 503, retryable: true },
  LOCK_TIMEOUT: { status: 503, retryable: true },
  FENCED: { status: 503, retryable: true },
  WRITES_UNAVAILABLE: { status: 503, retryable: true },
  REPLICA_BEHIND: { status: 503, retryable: true },
  STORAGE_UNAVAILABLE: { status: 503, retryable: true },
  INSUFFICIENT_STORAGE: { status: 507, retryable: true },
} as const satisfies Record<string, { status: number; retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;
