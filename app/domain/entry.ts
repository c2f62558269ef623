/**
 * @module What the metadata store knows about one file or directory, in the shape the rest of
 * the node uses (independent of any database).
 */
export type EntryType = 'file' | 'directory';
export type BackendType = 'localfs' | 's3';

export const FILE_MODE = '0644';
export const DIRECTORY_MODE = '0755';
/** Owner of the root directory; never a configurable user id. */
export const ROOT_OWNER = 'root';

export interface Entry {
  readonly path: string;
  readonly name: string;
  readonly type: EntryType;
  /** Bytes; always 0 for directories. */
  readonly size: number;
  readonly mode: string;
  readonly owner: string;
  readonly mtime: Date;
  readonly ctime: Date;
  readonly backendType: BackendType;
  /**
   * The node holding the bytes (CallFS `callfs_instance_id`): set for local-disk entries,
   * null for S3 entries (any node with S3 configured serves them) and for the root.
   */
  readonly instanceId: string | null;
  /** The node that created the entry (also for S3 entries); where to go when this node lacks the backend. */
  readonly originInstanceId: string | null;
  /** Content version: 1 at creation, +1 on every content replacement. */
  readonly version: number;
  /**
   * Key of this version's bytes in its store (`.callfs/blobs/…`, see domain/blob-key.ts); null
   * for directories and for files in the legacy layout (bytes at the path's own key).
   */
  readonly blobKey: string | null;
}

/** Fields a caller supplies to create an entry; the store fills name, times and version. */
export interface NewEntry {
  readonly path: string;
  readonly type: EntryType;
  readonly size: number;
  readonly owner: string;
  readonly backendType: BackendType;
  readonly instanceId: string | null;
  readonly originInstanceId: string | null;
}

/** Strong validator for an entry's current content (RFC 9110 §8.8.3). */
export function etagOf(entry: Entry): string {
  return `"${entry.ctime.getTime().toString(36)}-${entry.version.toString(36)}-${entry.size.toString(36)}"`;
}

const fingerprints = new WeakMap<Entry, string>();

/**
 * Every field of an entry that a read's answer depends on, as one header-safe string: two entries
 * with the same fingerprint answer a GET or HEAD alike. A forwarding node sends the fingerprint
 * of the entry it has just read with its changes synced, so the holder can tell that its own
 * cached entry is that one (see EntryCache.get).
 */
export function entryFingerprint(entry: Entry): string {
  let fingerprint = fingerprints.get(entry);
  if (fingerprint === undefined) {
    const fields = [entry.type, entry.version, entry.size, entry.mtime.getTime(), entry.ctime.getTime(), entry.mode, entry.owner, entry.blobKey ?? '-', entry.backendType, entry.instanceId ?? '-', entry.originInstanceId ?? '-'];
    fingerprint = fields.map((field) => encodeURIComponent(String(field))).join(' ');
    fingerprints.set(entry, fingerprint);
  }
  return fingerprint;
}

/** RFC 3339 with second precision in UTC, as CallFS prints `mtime`. */
export function formatMtime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
