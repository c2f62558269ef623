/**
 * @module Pure HTTP semantics the reference lacks: byte ranges (RFC 9110 §14) and conditional
 * requests (RFC 9110 §13). No I/O: callers pass header values and the entry's validators.
 */
export interface ResolvedRange {
  readonly start: number;
  readonly end: number;
}

export type RangeResult =
  | { readonly kind: 'full' }
  | { readonly kind: 'partial'; readonly range: ResolvedRange }
  | { readonly kind: 'unsatisfiable' };

/**
 * Interprets a `Range` header against a representation of `size` bytes. Only single ranges
 * are served; a multi-range or malformed header is ignored (full response), as RFC 9110 allows.
 */
export function resolveRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'full' };
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return { kind: 'full' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'full' };
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', range: { start: Math.max(0, size - suffix), end: size - 1 } };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (!Number.isSafeInteger(start) || start >= size) return { kind: 'unsatisfiable' };
  if (end < start) return { kind: 'full' };
  return { kind: 'partial', range: { start, end } };
}

function listMatches(header: string, etag: string, weak: boolean): boolean {
  const opaque = etag.replace(/^W\//, '');
  return header.split(',').some((raw) => {
    const candidate = raw.trim();
    if (candidate === '*') return true;
    if (weak) return candidate.replace(/^W\//, '') === opaque;
    return !candidate.startsWith('W/') && candidate === etag;
  });
}

export type PreconditionOutcome = 'proceed' | 'not-modified' | 'failed';

export interface Validators {
  /** null when the target does not exist. */
  readonly etag: string | null;
  readonly lastModified: Date | null;
}

/**
 * Evaluates If-Match / If-Unmodified-Since / If-None-Match / If-Modified-Since in the order of
 * RFC 9110 §13.2.2. `isRead` selects 304 (GET/HEAD) versus 412 (writes) for If-None-Match.
 */
export function evaluatePreconditions(
  headers: { ifMatch?: string | undefined; ifNoneMatch?: string | undefined; ifModifiedSince?: string | undefined; ifUnmodifiedSince?: string | undefined },
  current: Validators,
  isRead: boolean,
): PreconditionOutcome {
  const { etag, lastModified } = current;
  if (headers.ifMatch !== undefined) {
    if (etag === null || !listMatches(headers.ifMatch, etag, false)) return 'failed';
  } else if (headers.ifUnmodifiedSince !== undefined && lastModified !== null) {
    const since = Date.parse(headers.ifUnmodifiedSince);
    if (!Number.isNaN(since) && Math.floor(lastModified.getTime() / 1000) > Math.floor(since / 1000)) return 'failed';
  }
  if (headers.ifNoneMatch !== undefined) {
    if (etag !== null && listMatches(headers.ifNoneMatch, etag, true)) return isRead ? 'not-modified' : 'failed';
  } else if (isRead && headers.ifModifiedSince !== undefined && lastModified !== null) {
    const since = Date.parse(headers.ifModifiedSince);
    if (!Number.isNaN(since) && Math.floor(lastModified.getTime() / 1000) <= Math.floor(since / 1000)) return 'not-modified';
  }
  return 'proceed';
}
