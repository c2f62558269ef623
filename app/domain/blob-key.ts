/**
 * @module Where a file version's bytes live in a blob store (design decision D1). Every store has
 * a reserved top-level namespace `.callfs/`; a version written by this node's write path gets a
 * fresh random key under `.callfs/blobs/`, which nobody else can name, so its bytes can be
 * stored without a lock and are never overwritten in place. An entry without a blob key
 * (`blobKey === null`) is in the legacy layout: its bytes sit at the path itself (`toBlobKey`),
 * as CallFS and earlier versions of this node stored them.
 */
import { randomBytes } from 'node:crypto';
import type { Entry } from './entry.js';
import { toBlobKey } from './path.js';

/** The reserved namespace of every store (a directory of the local root, a key prefix in S3). */
export const RESERVED_NAMESPACE = '.callfs';
/** Prefix of versioned content keys. */
export const BLOB_PREFIX = `${RESERVED_NAMESPACE}/blobs/`;
/** Where a store may keep temporary files of its own. */
export const TEMP_PREFIX = `${RESERVED_NAMESPACE}/tmp/`;

const BLOB_KEY = /^\.callfs\/blobs\/[0-9a-f]{2}\/[0-9a-f]{32}$/;

/**
 * A new, unguessable key for one version's bytes: `.callfs/blobs/<2 hex>/<32 hex>`. The first
 * byte repeats as a directory level, spreading keys over 256 directories.
 */
export function newBlobKey(): string {
  const id = randomBytes(16).toString('hex');
  return `${BLOB_PREFIX}${id.slice(0, 2)}/${id}`;
}

/** True for keys made by `newBlobKey` (the migration and the sweeper tell them from paths). */
export function isBlobKey(key: string): boolean {
  return BLOB_KEY.test(key);
}

/** The key of an entry's current bytes in its store: its blob key, else its path (legacy). */
export function contentKeyOf(entry: Pick<Entry, 'path' | 'blobKey'>): string {
  return entry.blobKey ?? toBlobKey(entry.path);
}
