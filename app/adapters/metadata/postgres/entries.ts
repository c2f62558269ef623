/**
 * @module PostgresEntries: the namespace (`inodes`) of the MetadataStore port on Postgres: reads
 * of entries and listings, the directory and tool writes fenced by a lock's token and epoch, moves
 * in one transaction, and the blob-key adoption of the storage migration. The versioned file write
 * (`commitWrite`) is write-commits.ts. Every mutating statement publishes its path on the change
 * channel in the same transaction.
 */
import type { BackendType, Entry, NewEntry } from '../../../domain/entry.js';
import { DIRECTORY_MODE, FILE_MODE } from '../../../domain/entry.js';
import { AppError } from '../../../errors/app-error.js';
import { assertEpoch } from '../../../fencing/index.js';
import type { Fence, MoveOptions } from '../../../ports/metadata-store.js';
import { translatePgError } from '../errors.js';
import { CHANNEL, notice, type PostgresDatabase } from './database.js';
import { COLUMNS, nameOf, parentOf, toEntry, type EntryRow } from './rows.js';

export class PostgresEntries {
  readonly #db: PostgresDatabase;

  constructor(db: PostgresDatabase) {
    this.#db = db;
  }

  async getEntry(path: string): Promise<Entry | null> {
    const result = await this.#db.query<EntryRow>(`SELECT ${COLUMNS} FROM inodes WHERE path = $1`, [path]);
    const row = result.rows[0];
    return row === undefined ? null : toEntry(row);
  }

  async entryForWrite(path: string, fence: Fence): Promise<Entry | null> {
    const result = await this.#db.query<EntryRow>(
      `SELECT ${COLUMNS} FROM (SELECT ${assertEpoch('$2')}) AS guard(ok) LEFT JOIN inodes ON inodes.path = $1 WHERE guard.ok`,
      [path, fence.epoch],
    );
    const row = result.rows[0];
    return row === undefined || row.path === null ? null : toEntry(row);
  }

  async listChildren(path: string): Promise<Entry[]> {
    const result = await this.#db.query<EntryRow>(`SELECT ${COLUMNS} FROM inodes WHERE parent_path = $1 ORDER BY type DESC, name COLLATE "C"`, [path]);
    return result.rows.map(toEntry);
  }

  async fileHoldersWithin(path: string): Promise<string[]> {
    const result = await this.#db.query<{ holder: string }>(
      `SELECT DISTINCT callfs_instance_id AS holder FROM inodes
        WHERE (path = $1 OR left(path, length($1) + 1) = $1 || '/')
          AND type = 'file' AND backend_type = 'localfs' AND callfs_instance_id IS NOT NULL AND blob_key IS NULL
        ORDER BY 1`,
      [path === '/' ? '' : path],
    );
    return result.rows.map((r) => r.holder);
  }

  async hasChildren(path: string): Promise<boolean> {
    const result = await this.#db.query<{ found: boolean }>('SELECT EXISTS (SELECT 1 FROM inodes WHERE parent_path = $1) AS found', [path]);
    return result.rows[0]?.found === true;
  }

  async createEntry(entry: NewEntry, fence: Fence): Promise<Entry> {
    const result = await this.#db.query<EntryRow>(
      `WITH ins AS (
         INSERT INTO inodes (name, path, parent_path, type, size, mode, owner, backend_type, callfs_instance_id, fence, origin_instance_id)
         SELECT $1::text, $2::text, $3::text, $4::text, $5::bigint, $6::text, $7::text, $8::text, $9::text, $10::bigint, $12::text
          WHERE ${assertEpoch('$13')}
         RETURNING ${COLUMNS})
       SELECT ins.*, pg_notify('${CHANNEL}', $11) FROM ins`,
      [nameOf(entry.path), entry.path, parentOf(entry.path), entry.type, entry.size, entry.type === 'file' ? FILE_MODE : DIRECTORY_MODE, entry.owner, entry.backendType, entry.instanceId, fence.token, notice(entry.path, false), entry.originInstanceId, fence.epoch],
    );
    const row = result.rows[0];
    if (row === undefined) throw new Error('insert returned no row');
    return toEntry(row);
  }

  async ensureDirectories(entries: readonly NewEntry[], fence: Fence): Promise<Entry[]> {
    if (entries.length === 0) return [];
    const paths = entries.map((e) => e.path);
    await this.#db.query(
      `WITH ins AS (
         INSERT INTO inodes (name, path, parent_path, type, size, mode, owner, backend_type, callfs_instance_id, origin_instance_id)
         SELECT n, p, pp, 'directory', 0, '${DIRECTORY_MODE}', o, b, i, oi
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) WITH ORDINALITY AS t(n, p, pp, o, b, i, oi, ord)
         WHERE ${assertEpoch('$8')}
         ORDER BY ord
         ON CONFLICT (path) DO NOTHING RETURNING path)
       SELECT pg_notify('${CHANNEL}', json_build_object('p', path, 's', false)::text) FROM ins`,
      [entries.map((e) => nameOf(e.path)), paths, entries.map((e) => parentOf(e.path)), entries.map((e) => e.owner), entries.map((e) => e.backendType), entries.map((e) => e.instanceId), entries.map((e) => e.originInstanceId), fence.epoch],
    );
    const result = await this.#db.query<EntryRow>(`SELECT ${COLUMNS} FROM inodes WHERE path = ANY($1::text[])`, [paths]);
    const byPath = new Map(result.rows.map((row) => [row.path, toEntry(row)]));
    return paths.map((p) => byPath.get(p)).filter((e): e is Entry => e !== undefined);
  }

  async updateContent(path: string, size: number, fence: Fence): Promise<Entry> {
    const result = await this.#db.query<EntryRow>(
      `WITH upd AS (
         UPDATE inodes SET size = $2, mtime = now(), version = version + 1, fence = $3
         WHERE path = $1 AND fence <= $3 AND ${assertEpoch('$5')} RETURNING ${COLUMNS})
       SELECT upd.*, pg_notify('${CHANNEL}', $4) FROM upd`,
      [path, size, fence.token, notice(path, false), fence.epoch],
    );
    const row = result.rows[0];
    if (row !== undefined) return toEntry(row);
    if ((await this.getEntry(path)) === null) throw new AppError('FILE_NOT_FOUND', `file not found: ${path}`);
    throw new AppError('LOCK_LOST', `a newer writer has changed ${path}; this write was refused`);
  }

  async deleteEntry(path: string, fence: Fence): Promise<Entry | null> {
    const result = await this.#db.query<EntryRow>(
      `WITH del AS (
         DELETE FROM inodes WHERE path = $1 AND fence <= $2 AND NOT EXISTS (SELECT 1 FROM inodes c WHERE c.parent_path = $1)
           AND ${assertEpoch('$4')}
         RETURNING ${COLUMNS})
       SELECT del.*, pg_notify('${CHANNEL}', $3) FROM del`,
      [path, fence.token, notice(path, false), fence.epoch],
    );
    const deleted = result.rows[0];
    if (deleted !== undefined) return toEntry(deleted);
    if ((await this.getEntry(path)) === null) return null;
    if (await this.hasChildren(path)) throw new AppError('DIRECTORY_NOT_EMPTY', `directory not empty: ${path}`);
    throw new AppError('LOCK_LOST', `a newer writer has changed ${path}; this delete was refused`);
  }

  async adoptBlobKey(path: string, version: number, blobKey: string): Promise<boolean> {
    const result = await this.#db.query<{ path: string }>(
      `WITH adopted AS (
         UPDATE inodes SET blob_key = $3 WHERE path = $1 AND version = $2 AND type = 'file' AND blob_key IS NULL RETURNING path),
       forgotten AS (DELETE FROM replicas r USING adopted a WHERE r.path = a.path)
       SELECT path, pg_notify('${CHANNEL}', $4) FROM adopted`,
      [path, version, blobKey, notice(path, false)],
    );
    return result.rows.length > 0;
  }

  async legacyFiles(holder: string | null, backend: BackendType, afterPath: string, limit: number): Promise<Entry[]> {
    const result = await this.#db.query<EntryRow>(
      `SELECT ${COLUMNS} FROM inodes
        WHERE type = 'file' AND blob_key IS NULL AND backend_type = $1 AND callfs_instance_id IS NOT DISTINCT FROM $2
          AND path COLLATE "C" > $3 COLLATE "C"
        ORDER BY path COLLATE "C" LIMIT $4`,
      [backend, holder, afterPath, limit],
    );
    return result.rows.map(toEntry);
  }

  async moveEntry(from: string, to: string, options: MoveOptions): Promise<Entry> {
    return this.#move(from, to, options, notice(from, true));
  }

  async #move(from: string, to: string, options: MoveOptions, payload: string): Promise<Entry> {
    const client = await this.#db.connect();
    try {
      await client.query('BEGIN');
      // The epoch is checked by the first statement and held (FOR SHARE) until COMMIT.
      const source = await client.query<EntryRow>(`SELECT ${COLUMNS} FROM inodes WHERE path = $1 AND ${assertEpoch('$2')} FOR UPDATE`, [from, options.fence.epoch]);
      const sourceRow = source.rows[0];
      if (sourceRow === undefined) throw new AppError('FILE_NOT_FOUND', `file not found: ${from}`);
      const dest = await client.query<EntryRow>(`SELECT ${COLUMNS} FROM inodes WHERE path = $1 FOR UPDATE`, [to]);
      const destRow = dest.rows[0];
      if (destRow !== undefined) {
        if (!options.overwrite) throw new AppError('FILE_ALREADY_EXISTS', `destination already exists: ${to}`);
        if (destRow.type !== sourceRow.type) {
          throw new AppError(destRow.type === 'directory' ? 'IS_A_DIRECTORY' : 'NOT_A_DIRECTORY', `cannot replace a ${destRow.type} with a ${sourceRow.type}`);
        }
        const children = await client.query('SELECT 1 FROM inodes WHERE parent_path = $1 LIMIT 1', [to]);
        if (children.rows.length > 0) throw new AppError('DIRECTORY_NOT_EMPTY', `destination directory not empty: ${to}`);
        await client.query('DELETE FROM inodes WHERE path = $1', [to]);
      }
      await client.query(
        `UPDATE inodes SET
           path = $2 || substr(path, length($1) + 1),
           parent_path = CASE WHEN path = $1 THEN $3 ELSE $2 || substr(parent_path, length($1) + 1) END,
           name = CASE WHEN path = $1 THEN $4 ELSE name END,
           fence = GREATEST(fence, $5)
         WHERE path = $1 OR left(path, length($1) + 1) = $1 || '/'`,
        [from, to, parentOf(to), nameOf(to), options.fence.token],
      );
      await client.query(`SELECT pg_notify('${CHANNEL}', $1), pg_notify('${CHANNEL}', $2)`, [payload, JSON.stringify({ p: to, s: true })]);
      const moved = await client.query<EntryRow>(`SELECT ${COLUMNS} FROM inodes WHERE path = $1`, [to]);
      await client.query('COMMIT');
      const row = moved.rows[0];
      if (row === undefined) throw new Error('moved row vanished');
      return toEntry(row);
    } catch (error) {
      this.#db.pool.reportFailure(error);
      await client.query('ROLLBACK').catch(() => undefined);
      throw translatePgError(error);
    } finally {
      client.release();
    }
  }
}
