/**
 * @module MemoryReplicas: the ReplicaStore port of the memory metadata twin, mirroring
 * PostgresReplicas: only copies of an entry's current version count.
 */
import type { Entry } from '../../../domain/entry.js';
import type { ReplicaStore, UnderReplicated } from '../../../ports/replica-store.js';
import { byteOrder, type MemoryMetadataDatabase } from './database.js';
import type { MemorySession } from './session.js';

export class MemoryReplicas implements ReplicaStore {
  readonly #session: MemorySession;

  constructor(session: MemorySession) {
    this.#session = session;
  }

  async recordReplica(path: string, instanceId: string, version: number): Promise<boolean> {
    const db = this.#session.open();
    const entry = db.entries.get(path)?.entry;
    if (entry === undefined || entry.type !== 'file' || entry.version !== version) return false;
    const copies = db.replicas.get(path) ?? new Map<string, number>();
    copies.set(instanceId, version);
    db.replicas.set(path, copies);
    return true;
  }

  async currentReplicas(path: string, version: number): Promise<string[]> {
    const db = this.#session.open();
    if (db.entries.get(path)?.entry.version !== version) return [];
    return [...(db.replicas.get(path) ?? [])].filter(([, v]) => v === version).map(([id]) => id).sort(byteOrder);
  }

  /** Local-disk files held by `holder`, each with the instances holding a current copy elsewhere. */
  #heldBy(db: MemoryMetadataDatabase, holder: string): Array<{ entry: Entry; copies: string[] }> {
    const held: Array<{ entry: Entry; copies: string[] }> = [];
    for (const { entry } of db.entries.values()) {
      if (entry.instanceId !== holder || entry.type !== 'file' || entry.backendType !== 'localfs') continue;
      const copies = [...(db.replicas.get(entry.path) ?? [])].filter(([id, v]) => v === entry.version && id !== holder).map(([id]) => id);
      held.push({ entry, copies: copies.sort(byteOrder) });
    }
    return held.sort((a, b) => byteOrder(a.entry.path, b.entry.path));
  }

  async underReplicated(holder: string, wanted: number, limit: number): Promise<UnderReplicated[]> {
    return this.#heldBy(this.#session.open(), holder)
      .filter(({ copies }) => copies.length < wanted)
      .slice(0, limit)
      .map(({ entry, copies }) => ({ path: entry.path, version: entry.version, size: entry.size, replicas: copies }));
  }

  async promoteReplicas(oldHolder: string, newHolder: string): Promise<string[]> {
    const db = this.#session.open();
    const promoted: string[] = [];
    for (const { entry, copies } of this.#heldBy(db, oldHolder)) {
      if (!copies.includes(newHolder)) continue;
      const stored = db.entries.get(entry.path);
      if (stored === undefined) continue;
      stored.entry = { ...entry, instanceId: newHolder, ctime: new Date() };
      db.replicas.get(entry.path)?.delete(newHolder);
      promoted.push(entry.path);
    }
    if (promoted.length > 0) db.commit(promoted.map((path) => ({ path, subtree: false })));
    return promoted;
  }

  async replicaHoldersOf(holder: string): Promise<string[]> {
    const counts = new Map<string, number>();
    for (const { copies } of this.#heldBy(this.#session.open(), holder)) for (const id of copies) counts.set(id, (counts.get(id) ?? 0) + 1);
    return [...counts].sort((a, b) => b[1] - a[1] || byteOrder(a[0], b[0])).map(([id]) => id);
  }

  async countUnreplicated(holder: string): Promise<number> {
    return this.#heldBy(this.#session.open(), holder).filter(({ copies }) => copies.length === 0).length;
  }
}
