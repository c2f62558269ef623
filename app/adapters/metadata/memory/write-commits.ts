/**
 * @module The versioned write path of the memory metadata twin (memory.ts): the one-call write
 * commit, blob-key adoption and the legacy-file listing of the migration, over a
 * `MemoryMetadataDatabase`. They follow the Postgres functions `callfs_commit_write(s)`
 * (migrations.ts, version 10) check for check and in the same order, so a service sees the same
 * outcomes from both. Each commit runs without awaiting anything between reading the row and
 * writing it: writers of one path take turns in call order, as row locks make them in Postgres.
 */
import type { BackendType, Entry } from '../../../domain/entry.js';
import { AppError } from '../../../errors/app-error.js';
import type { CommitOutcome, ReplacedVersion, WriteCommit } from '../../../ports/metadata-store.js';
import { byteOrder, parentOf, type MemoryMetadataDatabase } from './database.js';

/** Commits one write whose bytes are stored already; see `MetadataStore.commitWrite`. */
export function commitWriteIn(db: MemoryMetadataDatabase, write: WriteCommit): CommitOutcome {
  db.assertEpoch(write.epoch);
  const stored = db.entries.get(write.path);
  if (stored !== undefined) {
    const current = stored.entry;
    if (write.mode === 'create') return { kind: 'exists', current };
    if (current.type === 'directory') throw new AppError('IS_A_DIRECTORY', `${write.path} is a directory`);
    if (write.expect !== undefined && (write.expect === null || write.expect.version !== current.version || write.expect.ctimeMs !== current.ctime.getTime())) {
      return { kind: 'changed', current };
    }
    if (!write.superUser && current.owner !== write.owner) throw new AppError('PERMISSION_DENIED', 'permission denied');
    // Owner, mode and ctime stay: only the content (and where its bytes live) changes.
    stored.entry = {
      ...current,
      size: write.size,
      mtime: new Date(),
      version: current.version + 1,
      blobKey: write.blobKey,
      backendType: write.backendType,
      instanceId: write.instanceId,
      originInstanceId: write.originInstanceId,
    };
    db.commit([{ path: write.path, subtree: false }]);
    const replaced: ReplacedVersion = { path: current.path, version: current.version, blobKey: current.blobKey, backendType: current.backendType, instanceId: current.instanceId };
    return { kind: 'committed', created: false, entry: stored.entry, replaced, createdDirectories: [], token: db.position() };
  }
  if (write.expect !== undefined && write.expect !== null) return { kind: 'changed', current: null };
  const parents: string[] = [];
  for (let p = parentOf(write.path); p !== null && p !== '/'; p = parentOf(p)) parents.unshift(p);
  // Every parent is checked before any is created, so a refusal leaves nothing behind (the
  // subtransaction's rollback in Postgres).
  for (const parent of parents) {
    const existing = db.entries.get(parent)?.entry;
    if (existing !== undefined && existing.type !== 'directory') throw new AppError('PARENT_NOT_DIRECTORY', `${parent} is a file, not a directory`);
  }
  const made: string[] = [];
  for (const parent of parents) {
    if (db.entries.has(parent)) continue;
    db.insert({ path: parent, type: 'directory', size: 0, owner: write.owner, backendType: write.directoryBackendType, instanceId: write.directoryInstanceId, originInstanceId: write.originInstanceId }, 0);
    made.push(parent);
  }
  const entry = db.insert(
    { path: write.path, type: 'file', size: write.size, owner: write.owner, backendType: write.backendType, instanceId: write.instanceId, originInstanceId: write.originInstanceId },
    0,
    write.blobKey,
  );
  db.commit([...made, write.path].map((path) => ({ path, subtree: false })));
  return { kind: 'committed', created: true, entry, replaced: null, createdDirectories: made, token: db.position() };
}

/** Gives a legacy file at `version` its blob key and forgets its replica copies; see `MetadataStore.adoptBlobKey`. */
export function adoptBlobKeyIn(db: MemoryMetadataDatabase, path: string, version: number, blobKey: string): boolean {
  const stored = db.entries.get(path);
  if (stored === undefined || stored.entry.type !== 'file' || stored.entry.version !== version || stored.entry.blobKey !== null) return false;
  stored.entry = { ...stored.entry, blobKey };
  db.replicas.delete(path);
  db.commit([{ path, subtree: false }]);
  return true;
}

/** Legacy-layout files of `holder` (null: S3) in `backend`, by path after `afterPath`; see `MetadataStore.legacyFiles`. */
export function legacyFilesIn(db: MemoryMetadataDatabase, holder: string | null, backend: BackendType, afterPath: string, limit: number): Entry[] {
  return [...db.entries.values()]
    .map((s) => s.entry)
    .filter((e) => e.type === 'file' && e.blobKey === null && e.backendType === backend && e.instanceId === holder && byteOrder(e.path, afterPath) > 0)
    .sort((a, b) => byteOrder(a.path, b.path))
    .slice(0, limit);
}
