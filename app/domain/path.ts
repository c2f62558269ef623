/**
 * @module The one canonicalisation of file-system paths. Every path a request carries (URL
 * remainder, JSON `path` / `destination` / `name`, link paths, peer targets) goes through
 * `parsePath` (or `parseUrlPath` for URL-encoded input) and only its output is used as the
 * authorization key, metadata key, lock key and blob key (CallFS reference §3).
 *
 * Names are stored in one Unicode form, NFC: a name sent decomposed (`cafe\u0301.txt`) and the
 * same name sent composed (`caf\u00e9.txt`) are one entry. Invisible format characters
 * (zero-width spaces and joiners, the BOM, bidi marks, line and paragraph separators) are
 * refused, so two names that look alike on screen are the same bytes or one of them is refused.
 */
import { AppError } from '../errors/app-error.js';

/** Longest allowed single name, in UTF-8 bytes (the reference's VARCHAR(255)). */
export const MAX_NAME_BYTES = 255;
/**
 * Longest allowed canonical path, in UTF-8 bytes: the longest key S3 accepts (1024), and well
 * under what the Postgres indexes on `path` hold (about 2700) and a local disk's PATH_MAX, so a
 * path accepted here fits every backend and region a file may move to.
 */
export const MAX_PATH_BYTES = 1024;
/** Names starting with this prefix are reserved for the node's own temporary files. */
export const RESERVED_NAME_PREFIX = '.callfs-';
/** First segment reserved for the node's own data in every store (`.callfs/blobs`, the cluster marker, the quarantine). */
export const RESERVED_TOP_LEVEL = '.callfs';

export interface ParsedPath {
  /** Canonical absolute path: leading `/`, no trailing `/`, no `.`/`..`/empty segments. Root is `/`. */
  readonly path: string;
  /** The raw input ended with `/` (or was empty): the caller means a directory. */
  readonly directoryIntent: boolean;
}

// Unicode bidirectional controls (embeddings, overrides, isolates, marks).
const BIDI = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/u;
// C0 controls except TAB, DEL and C1 controls.
const CONTROL = /[\u0000-\u0008\u000A-\u001F\u007F-\u009F]/u;
// Invisible format characters (general category Cf: zero-width space and joiners, word joiner,
// BOM U+FEFF, soft hyphen, tag characters, ...) and the line and paragraph separators.
const INVISIBLE = /[\p{Cf}\u2028\u2029]/u;
// In `u` mode a surrogate pair is one code point, so this matches only unpaired halves.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function invalid(reason: string): AppError {
  return new AppError('INVALID_PATH', `invalid path: ${reason}`);
}

const encoder = new TextEncoder();

/**
 * Validates and canonicalises a decoded path (already free of percent-escapes).
 * Throws INVALID_PATH for backslashes, control, bidi or invisible format characters, climbing
 * above the root, reserved names and over-long names or paths. The result is in NFC.
 */
export function parsePath(input: string): ParsedPath {
  const directoryIntent = input === '' || input.endsWith('/');
  // Normalised first, so every check below sees the name that will be stored.
  const raw = input.normalize('NFC');
  if (raw.includes('\\')) throw invalid('backslash is not allowed');
  if (CONTROL.test(raw)) throw invalid('control characters are not allowed');
  if (BIDI.test(raw)) throw invalid('bidirectional control characters are not allowed');
  if (INVISIBLE.test(raw)) throw invalid('invisible format characters (zero-width, BOM, line or paragraph separators) are not allowed');
  if (LONE_SURROGATE.test(raw)) throw invalid('unpaired surrogates are not allowed');
  if (/^[A-Za-z]:/.test(raw)) throw invalid('drive letters are not allowed');
  const out: string[] = [];
  for (const segment of raw.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (out.length === 0) throw invalid('path climbs above the root');
      out.pop();
      continue;
    }
    if (segment.startsWith(RESERVED_NAME_PREFIX)) throw invalid(`names starting with "${RESERVED_NAME_PREFIX}" are reserved`);
    if (encoder.encode(segment).length > MAX_NAME_BYTES) throw invalid(`a name is longer than ${MAX_NAME_BYTES} bytes`);
    out.push(segment);
  }
  if (out[0] === RESERVED_TOP_LEVEL) throw invalid(`the top-level name "${RESERVED_TOP_LEVEL}" is reserved for the node's own data`);
  const path = '/' + out.join('/');
  if (encoder.encode(path).length > MAX_PATH_BYTES) throw invalid(`path is longer than ${MAX_PATH_BYTES} bytes`);
  return { path, directoryIntent };
}

/**
 * Parses the still-encoded URL remainder after a route prefix (e.g. after `/v1/files/`).
 * Each `/`-separated segment is percent-decoded exactly once; an encoded `/` inside a segment
 * (`%2F`) or a malformed escape is rejected, so no decoding step can create a separator or a
 * dot segment that the URL parser did not already see.
 */
export function parseUrlPath(encodedRemainder: string): ParsedPath {
  const decoded: string[] = [];
  for (const segment of encodedRemainder.split('/')) {
    let value: string;
    try {
      value = decodeURIComponent(segment);
    } catch {
      throw invalid('malformed percent-encoding');
    }
    if (value.includes('/')) throw invalid('encoded "/" inside a name is not allowed');
    decoded.push(value);
  }
  return parsePath(decoded.join('/'));
}

/** Parent of a canonical path (`/` for top-level entries and for the root itself). */
export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** Last segment of a canonical path (`''` for the root). */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Joins a canonical directory path and a single name. */
export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** Every ancestor of a canonical path, nearest the root first, excluding `/` and the path itself. */
export function ancestorsOf(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  const result: string[] = [];
  for (let i = 1; i < parts.length; i++) result.push('/' + parts.slice(0, i).join('/'));
  return result;
}

/** True when `candidate` equals `root` or lies below it. */
export function isWithin(candidate: string, root: string): boolean {
  if (root === '/') return true;
  return candidate === root || candidate.startsWith(root + '/');
}

/** Canonical path to the relative key used by blob stores (no leading slash; root is ''). */
export function toBlobKey(path: string): string {
  return path.slice(1);
}
