/**
 * @module MetadataStore: the namespace (entries) and single-use links, shared by every node of a
 * cluster. Adapters: Postgres (`adapters/metadata/postgres.ts`, also used for the embedded
 * default) and an in-memory twin for unit tests. Contract: `test/contract/metadata-store.contract.ts`.
 *
 * Failure translation (adapters must follow it):
 * - unique violation on a path            → AppError FILE_ALREADY_EXISTS
 * - a write whose fence is older than the fence stored on the row → AppError LOCK_LOST
 * - a lock-protected write into a database fenced by a failover, or carrying another fencing
 *   epoch than the database's → AppError FENCED (checked in the write itself, not before it)
 * - store unreachable / connection lost / query timeout → AppError METADATA_UNAVAILABLE
 *
 * Port changes of the versioned write path (for every adapter, the memory twin included):
 * `Entry.blobKey`, `commitWrite` (+ `WriteCommit`, `CommitOutcome`), `adoptBlobKey`,
 * `legacyFiles`, and `deleteEntry` returning the deleted row instead of a boolean. `createEntry`
 * and `updateContent` remain for directories and tools; file writes no longer use them.
 */
import type { BackendType, Entry, NewEntry } from '../domain/entry.js';

export interface LinkRecord {
  readonly token: string;
  /** Canonical path the link grants. */
  readonly path: string;
  readonly signature: string;
  readonly expiresAt: Date;
  readonly status: 'active' | 'used';
  readonly createdAt: Date;
}

/** A change to the namespace, published to every node sharing the store. */
export interface MetadataChange {
  /** Canonical path whose entry changed (for a move: both the source and the destination are published). */
  readonly path: string;
  /** True when every descendant of `path` changed too (directory moves). */
  readonly subtree: boolean;
}

/** What a lock-protected write carries from its lock (see ports/lock-manager.ts). */
export interface Fence {
  /** The lock's fencing token: stored on the row; an older token than the row's is refused. */
  readonly token: number;
  /** The lock home's fencing epoch; null = only a fenced database refuses the write. */
  readonly epoch: number | null;
}

/**
 * One write to commit (`commitWrite`): its bytes are already stored under `blobKey` in the
 * store of `backendType`, on `instanceId` for local disk.
 */
export interface WriteCommit {
  readonly path: string;
  /** 'create' (POST): refuse an existing entry. 'replace' (PUT): create, or replace a file. */
  readonly mode: 'create' | 'replace';
  /** The writer: owner of a created file and of created parents; only the owner may replace. */
  readonly owner: string;
  /** The writer may replace anyone's file (the root owner, the internal identity). */
  readonly superUser: boolean;
  readonly size: number;
  readonly blobKey: string;
  readonly backendType: BackendType;
  /** Holder of the new version's bytes (local disk), null for S3. */
  readonly instanceId: string | null;
  /** The node that wrote this version's bytes (recorded as the entry's origin). */
  readonly originInstanceId: string;
  /** Backend and holder recorded on parent directories the commit creates. */
  readonly directoryBackendType: BackendType;
  readonly directoryInstanceId: string | null;
  /**
   * The version the writer's conditions (If-Match and friends) were checked against: absent =
   * unconditional; null = the path must have no entry; else that exact version (by version and
   * ctime). A mismatch is the 'changed' outcome, so the writer can check again.
   */
  readonly expect?: { readonly version: number; readonly ctimeMs: number } | null;
  /** The writer's known fencing epoch (null = only a fenced database refuses it). */
  readonly epoch: number | null;
}

/** The version a committed write replaced: its bytes are garbage once no reader needs them. */
export interface ReplacedVersion {
  readonly path: string;
  readonly version: number;
  /** Null: legacy layout, the bytes are at the path's key. */
  readonly blobKey: string | null;
  readonly backendType: BackendType;
  readonly instanceId: string | null;
}

export type CommitOutcome =
  | {
      readonly kind: 'committed';
      readonly created: boolean;
      readonly entry: Entry;
      readonly replaced: ReplacedVersion | null;
      /** Parent directories the commit created (root-most first). */
      readonly createdDirectories: readonly string[];
      /**
       * Consistency token covering the commit (for Postgres: a WAL position read after COMMIT,
       * so past the commit record); null when the store has none.
       */
      readonly token: string | null;
    }
  /** 'create' found an entry at the path. */
  | { readonly kind: 'exists'; readonly current: Entry }
  /** The entry is not the `expect`ed version (current = what is there now, null = none). */
  | { readonly kind: 'changed'; readonly current: Entry | null };

export interface MoveOptions {
  /** Replace an existing destination of the same type (a directory must be empty). */
  readonly overwrite: boolean;
  readonly fence: Fence;
}

export interface MetadataStore {
  /** The entry at a canonical path, or null. */
  getEntry(path: string): Promise<Entry | null>;
  /**
   * The entry at a canonical path read from the primary for a write under a lock, or null; throws
   * FENCED first when `fence` may not write here (so no bytes are touched for a refused write;
   * the write statements check again, atomically).
   */
  entryForWrite(path: string, fence: Fence): Promise<Entry | null>;
  /**
   * Immediate children of a directory: files first, then directories, each ordered by name in
   * byte (C collation) order. Empty for a missing directory.
   */
  listChildren(path: string): Promise<Entry[]>;
  /** True when the directory has at least one child. */
  hasChildren(path: string): Promise<boolean>;
  /** Instances holding the bytes of local-disk files at or below `path` (for directory moves). */
  fileHoldersWithin(path: string): Promise<string[]>;
  /**
   * Inserts a new entry (version 1, times = now) stamped with `fence`.
   * Throws FILE_ALREADY_EXISTS when the path is taken.
   */
  createEntry(entry: NewEntry, fence: Fence): Promise<Entry>;
  /**
   * Inserts each missing directory (parents first), leaving existing entries untouched.
   * Returns the entries now at those paths, in the same order (so callers can detect a file
   * standing where a directory is needed). Only the fence's epoch is checked (FENCED).
   */
  ensureDirectories(entries: readonly NewEntry[], fence: Fence): Promise<Entry[]>;
  /**
   * The write path (issue 14/17): commits one write whose bytes are stored already, in ONE call
   * to the primary: checks the fencing epoch (FENCED), applies create / replace / `expect`
   * against the current row (writers of one path are serialised in commit order), creates
   * missing parents, records the new version with its blob key, publishes the change and
   * returns the new entry, the version it replaced and a consistency token. Throws
   * PERMISSION_DENIED (replacing another user's file), IS_A_DIRECTORY, PARENT_NOT_DIRECTORY,
   * FENCED, METADATA_UNAVAILABLE (outcome unknown). Adapters may batch concurrent commits into one
   * transaction (group commit) as long as each commit's outcome stays its own.
   */
  commitWrite(write: WriteCommit): Promise<CommitOutcome>;
  /**
   * Gives a legacy-layout file (blob_key NULL) at `version` the blob key its bytes were copied
   * to, without changing its version, ETag or times, and forgets its replica copies (they sit
   * at the old key). False when the entry is gone, has moved on, or has a blob key already.
   */
  adoptBlobKey(path: string, version: number, blobKey: string): Promise<boolean>;
  /**
   * Files still in the legacy layout whose bytes this node can move: local-disk files held by
   * `holder`, or S3 files when `holder` is null. Ordered by path, after `afterPath`.
   */
  legacyFiles(holder: string | null, backend: BackendType, afterPath: string, limit: number): Promise<Entry[]>;
  /**
   * Records new content for a file: size, mtime = now, version + 1, fence.
   * Throws FILE_NOT_FOUND if the row is gone, LOCK_LOST if the row carries a newer fence.
   */
  updateContent(path: string, size: number, fence: Fence): Promise<Entry>;
  /**
   * Deletes one entry. Returns the deleted row (its blob key names the bytes to release, which
   * may be newer than what the caller read before), or null when it did not exist. Throws
   * LOCK_LOST on a newer fence, DIRECTORY_NOT_EMPTY if it is a directory with children (checked
   * atomically).
   */
  deleteEntry(path: string, fence: Fence): Promise<Entry | null>;
  /**
   * Re-keys an entry, and for a directory its whole subtree, in one transaction.
   * Throws FILE_NOT_FOUND (source missing), FILE_ALREADY_EXISTS (destination exists and
   * overwrite is false), IS_A_DIRECTORY / NOT_A_DIRECTORY (overwrite across types),
   * DIRECTORY_NOT_EMPTY (overwriting a non-empty directory).
   * Returns the moved entry at its new path.
   */
  moveEntry(from: string, to: string, options: MoveOptions): Promise<Entry>;

  insertLink(link: Omit<LinkRecord, 'status' | 'createdAt'>): Promise<void>;
  getLink(token: string): Promise<LinkRecord | null>;
  /** Atomically flips an active, unexpired link to used. False if someone else got there first. */
  consumeLink(token: string, usedByIp: string | null): Promise<boolean>;
  /** Makes a spent, unexpired link usable again (its bytes could not be sent at all); false if not spent. */
  releaseLink(token: string): Promise<boolean>;
  /** Deletes expired active links and used links older than `usedRetentionMs`. Returns rows deleted. */
  deleteStaleLinks(usedRetentionMs: number): Promise<number>;

  /**
   * Subscribes to changes made by ANY node (including this one). The listener is also called
   * with `{ path: '/', subtree: true }` whenever the feed may have missed changes (reconnect).
   * Returns an unsubscribe function.
   */
  subscribe(listener: (change: MetadataChange) => void): () => void;
  /**
   * Resolves true once every change committed before the call has been passed to subscribers,
   * false when the feed cannot promise that (then read the store instead of a cache).
   */
  syncChanges(): Promise<boolean>;

  /** Throws METADATA_UNAVAILABLE when the store cannot answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
