/**
 * @module MemoryMembers: the ClusterRegistry port of the memory metadata twin, mirroring
 * PostgresMembers (ages by the process clock, the one clock every in-process node shares).
 */
import type { ClusterRegistry, MemberAnnouncement, MemberRecord } from '../../../ports/cluster-registry.js';
import { byteOrder } from './database.js';
import type { MemorySession } from './session.js';

export class MemoryMembers implements ClusterRegistry {
  readonly #session: MemorySession;

  constructor(session: MemorySession) {
    this.#session = session;
  }

  async heartbeat(member: MemberAnnouncement, forgetAfterMs: number): Promise<void> {
    const db = this.#session.open();
    const now = Date.now();
    for (const [id, stored] of db.members) if (id !== member.instanceId && stored.lastSeen.getTime() < now - forgetAfterMs) db.members.delete(id);
    db.members.set(member.instanceId, { announcement: { ...member }, lastSeen: new Date(now) });
  }

  async deregister(instanceId: string): Promise<void> {
    this.#session.open().members.delete(instanceId);
  }

  async listMembers(): Promise<MemberRecord[]> {
    const now = Date.now();
    return [...this.#session.open().members.values()]
      .map(({ announcement, lastSeen }) => ({ ...announcement, lastSeen, ageMs: Math.max(0, now - lastSeen.getTime()) }))
      .sort((a, b) => byteOrder(a.instanceId, b.instanceId));
  }
}
