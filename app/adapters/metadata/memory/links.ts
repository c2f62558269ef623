/**
 * @module MemoryLinks: the single-use links of the memory metadata twin, mirroring PostgresLinks.
 */
import { AppError } from '../../../errors/app-error.js';
import type { LinkRecord } from '../../../ports/metadata-store.js';
import type { LinkRepository } from '../composed-store.js';
import type { MemorySession } from './session.js';

export class MemoryLinks implements LinkRepository {
  readonly #session: MemorySession;

  constructor(session: MemorySession) {
    this.#session = session;
  }

  async insertLink(link: Omit<LinkRecord, 'status' | 'createdAt'>): Promise<void> {
    const db = this.#session.open();
    if (db.links.has(link.token)) throw new AppError('FILE_ALREADY_EXISTS', 'the path already exists');
    db.links.set(link.token, { record: { ...link, status: 'active', createdAt: new Date() }, usedAt: null });
  }

  async getLink(token: string): Promise<LinkRecord | null> {
    return this.#session.open().links.get(token)?.record ?? null;
  }

  async consumeLink(token: string): Promise<boolean> {
    const stored = this.#session.open().links.get(token);
    if (stored === undefined || stored.record.status !== 'active' || stored.record.expiresAt.getTime() <= Date.now()) return false;
    stored.record = { ...stored.record, status: 'used' };
    stored.usedAt = new Date();
    return true;
  }

  async releaseLink(token: string): Promise<boolean> {
    const stored = this.#session.open().links.get(token);
    if (stored === undefined || stored.record.status !== 'used' || stored.record.expiresAt.getTime() <= Date.now()) return false;
    stored.record = { ...stored.record, status: 'active' };
    stored.usedAt = null;
    return true;
  }

  async deleteStaleLinks(usedRetentionMs: number): Promise<number> {
    const db = this.#session.open();
    const now = Date.now();
    let deleted = 0;
    for (const [token, { record, usedAt }] of db.links) {
      const expired = record.status === 'active' && record.expiresAt.getTime() < now;
      const spent = record.status === 'used' && usedAt !== null && usedAt.getTime() < now - usedRetentionMs;
      if (expired || spent) {
        db.links.delete(token);
        deleted++;
      }
    }
    return deleted;
  }
}
