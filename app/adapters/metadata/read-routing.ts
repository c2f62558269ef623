/**
 * @module ReplicaRoutedStore: a MetadataStore whose reads (entries, children) go to the region's
 * read replica and everything else to the primary. `preferPrimary()` is asked on every read, so a
 * request whose consistency token the replica has not reached yet reads from the primary instead.
 * Only the read paths that may be a little stale use it (the entry cache of GET/HEAD, listings);
 * writes and the checks made under a lock always use the primary store itself.
 */
import type { BackendType, Entry, NewEntry } from '../../domain/entry.js';
import type { CommitOutcome, Fence, LinkRecord, MetadataChange, MetadataStore, MoveOptions, WriteCommit } from '../../ports/metadata-store.js';

export class ReplicaRoutedStore implements MetadataStore {
  constructor(
    private readonly primary: MetadataStore,
    private readonly replica: MetadataStore,
    private readonly preferPrimary: () => boolean,
  ) {}

  #reader(): MetadataStore {
    return this.preferPrimary() ? this.primary : this.replica;
  }

  getEntry(path: string): Promise<Entry | null> {
    return this.#reader().getEntry(path);
  }
  entryForWrite(path: string, fence: Fence): Promise<Entry | null> {
    return this.primary.entryForWrite(path, fence);
  }
  listChildren(path: string): Promise<Entry[]> {
    return this.#reader().listChildren(path);
  }
  hasChildren(path: string): Promise<boolean> {
    return this.#reader().hasChildren(path);
  }
  fileHoldersWithin(path: string): Promise<string[]> {
    return this.primary.fileHoldersWithin(path);
  }
  createEntry(entry: NewEntry, fence: Fence): Promise<Entry> {
    return this.primary.createEntry(entry, fence);
  }
  ensureDirectories(entries: readonly NewEntry[], fence: Fence): Promise<Entry[]> {
    return this.primary.ensureDirectories(entries, fence);
  }
  updateContent(path: string, size: number, fence: Fence): Promise<Entry> {
    return this.primary.updateContent(path, size, fence);
  }
  commitWrite(write: WriteCommit): Promise<CommitOutcome> {
    return this.primary.commitWrite(write);
  }
  adoptBlobKey(path: string, version: number, blobKey: string): Promise<boolean> {
    return this.primary.adoptBlobKey(path, version, blobKey);
  }
  legacyFiles(holder: string | null, backend: BackendType, afterPath: string, limit: number): Promise<Entry[]> {
    return this.primary.legacyFiles(holder, backend, afterPath, limit);
  }
  deleteEntry(path: string, fence: Fence): Promise<Entry | null> {
    return this.primary.deleteEntry(path, fence);
  }
  moveEntry(from: string, to: string, options: MoveOptions): Promise<Entry> {
    return this.primary.moveEntry(from, to, options);
  }
  insertLink(link: Omit<LinkRecord, 'status' | 'createdAt'>): Promise<void> {
    return this.primary.insertLink(link);
  }
  getLink(token: string): Promise<LinkRecord | null> {
    return this.primary.getLink(token);
  }
  consumeLink(token: string, usedByIp: string | null): Promise<boolean> {
    return this.primary.consumeLink(token, usedByIp);
  }
  releaseLink(token: string): Promise<boolean> {
    return this.primary.releaseLink(token);
  }
  deleteStaleLinks(usedRetentionMs: number): Promise<number> {
    return this.primary.deleteStaleLinks(usedRetentionMs);
  }
  subscribe(listener: (change: MetadataChange) => void): () => void {
    return this.primary.subscribe(listener);
  }
  syncChanges(): Promise<boolean> {
    return this.primary.syncChanges();
  }
  ping(): Promise<void> {
    return this.replica.ping();
  }
  /** The replica and primary are closed by whoever opened them. */
  async close(): Promise<void> {}
}
