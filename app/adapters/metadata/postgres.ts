/**
 * @module PostgresMetadataStore: the MetadataStore port on Postgres via `pg`. Every mutating
 * statement also publishes the changed path with `pg_notify` in the same transaction; one
 * dedicated LISTEN connection per node feeds `subscribe()` and reconnects by itself (telling
 * listeners to drop everything, since changes may have been missed meanwhile). The pool
 * reconnects by itself too, so the node recovers without a restart when the database returns.
 * A DSN may list several hosts: the pool (see PrimaryPool) then follows the primary across a
 * switchover, and the LISTEN connection moves with it.
 */
import pg from 'pg';
import type { BackendType, Entry, NewEntry } from '../../domain/entry.js';
import { DIRECTORY_MODE, FILE_MODE } from '../../domain/entry.js';
import { AppError } from '../../errors/app-error.js';
import type { ClusterRegistry, MemberAnnouncement, MemberRecord } from '../../ports/cluster-registry.js';
import type { EpochSource, EpochState, PrimaryCandidates } from '../../ports/fencing.js';
import type { CommitOutcome, Fence, LinkRecord, MetadataChange, MetadataStore, MoveOptions, ReplacedVersion, WriteCommit } from '../../ports/metadata-store.js';
import type { ReplicaStore, UnderReplicated } from '../../ports/replica-store.js';
import type { ReplicaProgress, WalPosition } from '../../ports/consistency.js';
import type { PeerNonceStore } from '../../ports/peer-nonces.js';
import type { ClusterRecord, StorageCatalog } from '../../ports/storage-catalog.js';
import { assertEpoch, epochStateFromRow, READ_EPOCH_STATE, type EpochStateRow } from '../../fencing/index.js';
import { translatePgError } from './errors.js';
import { MIGRATIONS } from './migrations.js';
import { PrimaryPool } from './primary-pool.js';
import { GroupCommit } from './group-commit.js';

const CHANNEL = 'callfs_changes';
const MIGRATION_LOCK_KEY = 0x63616c6c; // "call"
const COLUMNS = 'path, name, type, size, mode, owner, mtime, ctime, backend_type, callfs_instance_id, origin_instance_id, version, blob_key';
/** Batches of write commits on their way at once, and the most commits in one (group commit). */
const COMMIT_BATCHES_IN_FLIGHT = 4;
const COMMIT_BATCH_MAX = 64;

export interface PostgresMetadataStoreOptions {
  readonly dsn: string;
  readonly poolSize?: number;
  readonly connectTimeoutMs?: number;
  readonly statementTimeoutMs?: number;
  /** A streaming replica opened for reads only: no migrations, no writes. */
  readonly readReplica?: boolean;
  /** Group commit of `commitWrite` (default: 4 batches in flight, up to 64 commits each); `maxBatch: 1` turns it off. */
  readonly commitBatching?: { readonly maxInFlight: number; readonly maxBatch: number };
}

interface EntryRow {
  path: string;
  name: string;
  type: 'file' | 'directory';
  size: string;
  mode: string;
  owner: string;
  mtime: Date;
  ctime: Date;
  backend_type: 'localfs' | 's3';
  callfs_instance_id: string | null;
  origin_instance_id: string | null;
  version: string;
  blob_key: string | null;
}

/** An entry as `callfs_entry_json` renders it (numbers as JSON numbers, times in epoch ms). */
type EntryJson = Omit<EntryRow, 'size' | 'version' | 'mtime' | 'ctime'> & { size: number; version: number; mtime: number; ctime: number };

/** One result of `callfs_commit_writes`. */
type CommitJson =
  | { created: boolean; entry: EntryJson; made: string[]; previous: { path: string; version: number; blob_key: string | null; backend_type: 'localfs' | 's3'; instance_id: string | null } | null }
  | { error: string; message: string; detail: string | null };

function entryFromJson(row: EntryJson): Entry {
  return toEntry({ ...row, size: String(row.size), version: String(row.version), mtime: new Date(Number(row.mtime)), ctime: new Date(Number(row.ctime)) });
}

/** The row a refusal's DETAIL carries (JSON of `callfs_entry_json`, or 'null'). */
function detailEntry(detail: string | null): Entry | null {
  if (detail === null || detail === '' || detail === 'null') return null;
  return entryFromJson(JSON.parse(detail) as EntryJson);
}

/** What one write asks `callfs_commit_write` for (the JSON it reads). */
function commitRequest(write: WriteCommit): Record<string, unknown> {
  const parents = ancestorPaths(write.path).map((p) => ({ path: p, name: nameOf(p), parent: parentOf(p) }));
  return {
    path: write.path,
    name: nameOf(write.path),
    parent: parentOf(write.path),
    mode: write.mode,
    owner: write.owner,
    super_user: write.superUser,
    size: write.size,
    blob_key: write.blobKey,
    backend_type: write.backendType,
    instance_id: write.instanceId,
    origin_instance_id: write.originInstanceId,
    dir_backend_type: write.directoryBackendType,
    dir_instance_id: write.directoryInstanceId,
    parents,
    ...(write.expect === undefined ? {} : { expect: write.expect === null ? null : { version: write.expect.version, ctime: write.expect.ctimeMs } }),
  };
}

function ancestorPaths(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  const result: string[] = [];
  for (let i = 1; i < parts.length; i++) result.push('/' + parts.slice(0, i).join('/'));
  return result;
}

function toEntry(row: EntryRow): Entry {
  return {
    path: row.path,
    name: row.name,
    type: row.type,
    size: Number(row.size),
    mode: row.mode,
    owner: row.owner,
    mtime: row.mtime,
    ctime: row.ctime,
    backendType: row.backend_type,
    instanceId: row.callfs_instance_id,
    originInstanceId: row.origin_instance_id,
    version: Number(row.version),
    blobKey: row.blob_key,
  };
}

/** A refusal that should name a row but came without one (cannot happen with the shipped SQL). */
function missingRow(path: string): never {
  throw new Error(`commit refused ${path} without naming the row`);
}

function parentOf(path: string): string | null {
  if (path === '/') return null;
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

function nameOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** How long a write waits to see its own change notification come back. */
/** Longest wait for a change-feed sync before the reader falls back to the database. */
const SYNC_TIMEOUT_MS = 1000;

export async function createPostgresMetadataStore(options: PostgresMetadataStoreOptions): Promise<PostgresMetadataStore> {
  const store = new PostgresMetadataStore(options);
  try {
    // A read replica cannot run migrations; the primary's arrive by replication.
    if (options.readReplica === true) await store.ping();
    else await store.migrate();
  } catch (error) {
    await store.close();
    throw translatePgError(error);
  }
  return store;
}

export class PostgresMetadataStore implements MetadataStore, ClusterRegistry, ReplicaStore, WalPosition, ReplicaProgress, EpochSource, PrimaryCandidates, PeerNonceStore, StorageCatalog {
  readonly #pool: PrimaryPool;
  readonly #listeners = new Set<(change: MetadataChange) => void>();
  #listener: pg.Client | null = null;
  #listening = false;
  /** The sync query in flight on the LISTEN connection, and the one queued behind it. */
  #syncInFlight: Promise<boolean> | null = null;
  #syncQueued: Promise<boolean> | null = null;
  #listenTimer: NodeJS.Timeout | null = null;
  #closed = false;
  #noncesPurgedAt = 0;
  readonly #commits: GroupCommit<WriteCommit, CommitOutcome>;

  constructor(options: PostgresMetadataStoreOptions) {
    this.#commits = new GroupCommit<WriteCommit, CommitOutcome>({
      send: (writes) => this.#commitBatch(writes),
      maxInFlight: options.commitBatching?.maxInFlight ?? COMMIT_BATCHES_IN_FLIGHT,
      maxBatch: options.commitBatching?.maxBatch ?? COMMIT_BATCH_MAX,
    });
    this.#pool = new PrimaryPool({
      dsn: options.dsn,
      max: options.poolSize ?? 20,
      connectTimeoutMs: options.connectTimeoutMs ?? 3000,
      statementTimeoutMs: options.statementTimeoutMs ?? 5000,
      onSwitch: () => this.#followPrimary(),
    });
  }

  async migrate(): Promise<void> {
    const client = await this.#pool.connect();
    try {
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      await client.query('CREATE TABLE IF NOT EXISTS callfs_schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
      const done = await client.query<{ version: string }>('SELECT version FROM callfs_schema_migrations');
      const applied = new Set(done.rows.map((r) => Number(r.version)));
      for (const migration of MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(migration.sql);
          await client.query('INSERT INTO callfs_schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw error;
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
      client.release();
    }
  }

  async #query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.#pool.query<R>(text, values);
    } catch (error) {
      throw translatePgError(error);
    }
  }

  async getEntry(path: string): Promise<Entry | null> {
    const result = await this.#query<EntryRow>(`SELECT ${COLUMNS} FROM inodes WHERE path = $1`, [path]);
    const row = result.rows[0];
    return row === undefined ? null : toEntry(row);
  }

  async entryForWrite(path: string, fence: Fence): Promise<Entry | null> {
    const result = await this.#query<EntryRow>(
      `SELECT ${COLUMNS} FROM (SELECT ${assertEpoch('$2')}) AS guard(ok) LEFT JOIN inodes ON inodes.path = $1 WHERE guard.ok`,
      [path, fence.epoch],
    );
    const row = result.rows[0];
    return row === undefined || row.path === null ? null : toEntry(row);
  }

  async listChildren(path: string): Promise<Entry[]> {
    const result = await this.#query<EntryRow>(`SELECT ${COLUMNS} FROM inodes WHERE parent_path = $1 ORDER BY type DESC, name COLLATE "C"`, [path]);
    return result.rows.map(toEntry);
  }

  async fileHoldersWithin(path: string): Promise<string[]> {
    const result = await this.#query<{ holder: string }>(
      `SELECT DISTINCT callfs_instance_id AS holder FROM inodes
        WHERE (path = $1 OR left(path, length($1) + 1) = $1 || '/')
          AND type = 'file' AND backend_type = 'localfs' AND callfs_instance_id IS NOT NULL AND blob_key IS NULL
        ORDER BY 1`,
      [path === '/' ? '' : path],
    );
    return result.rows.map((r) => r.holder);
  }

  async hasChildren(path: string): Promise<boolean> {
    const result = await this.#query<{ found: boolean }>('SELECT EXISTS (SELECT 1 FROM inodes WHERE parent_path = $1) AS found', [path]);
    return result.rows[0]?.found === true;
  }

  async createEntry(entry: NewEntry, fence: Fence): Promise<Entry> {
    const result = await this.#query<EntryRow>(
      `WITH ins AS (
         INSERT INTO inodes (name, path, parent_path, type, size, mode, owner, backend_type, callfs_instance_id, fence, origin_instance_id)
         SELECT $1::text, $2::text, $3::text, $4::text, $5::bigint, $6::text, $7::text, $8::text, $9::text, $10::bigint, $12::text
          WHERE ${assertEpoch('$13')}
         RETURNING ${COLUMNS})
       SELECT ins.*, pg_notify('${CHANNEL}', $11) FROM ins`,
      [nameOf(entry.path), entry.path, parentOf(entry.path), entry.type, entry.size, entry.type === 'file' ? FILE_MODE : DIRECTORY_MODE, entry.owner, entry.backendType, entry.instanceId, fence.token, this.#notice(entry.path, false), entry.originInstanceId, fence.epoch],
    );
    const row = result.rows[0];
    if (row === undefined) throw new Error('insert returned no row');
    return toEntry(row);
  }

  async ensureDirectories(entries: readonly NewEntry[], fence: Fence): Promise<Entry[]> {
    if (entries.length === 0) return [];
    const paths = entries.map((e) => e.path);
    await this.#query(
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
    const result = await this.#query<EntryRow>(`SELECT ${COLUMNS} FROM inodes WHERE path = ANY($1::text[])`, [paths]);
    const byPath = new Map(result.rows.map((row) => [row.path, toEntry(row)]));
    return paths.map((p) => byPath.get(p)).filter((e): e is Entry => e !== undefined);
  }

  async updateContent(path: string, size: number, fence: Fence): Promise<Entry> {
    const result = await this.#query<EntryRow>(
      `WITH upd AS (
         UPDATE inodes SET size = $2, mtime = now(), version = version + 1, fence = $3
         WHERE path = $1 AND fence <= $3 AND ${assertEpoch('$5')} RETURNING ${COLUMNS})
       SELECT upd.*, pg_notify('${CHANNEL}', $4) FROM upd`,
      [path, size, fence.token, this.#notice(path, false), fence.epoch],
    );
    const row = result.rows[0];
    if (row !== undefined) return toEntry(row);
    if ((await this.getEntry(path)) === null) throw new AppError('FILE_NOT_FOUND', `file not found: ${path}`);
    throw new AppError('LOCK_LOST', `a newer writer has changed ${path}; this write was refused`);
  }

  async deleteEntry(path: string, fence: Fence): Promise<Entry | null> {
    const result = await this.#query<EntryRow>(
      `WITH del AS (
         DELETE FROM inodes WHERE path = $1 AND fence <= $2 AND NOT EXISTS (SELECT 1 FROM inodes c WHERE c.parent_path = $1)
           AND ${assertEpoch('$4')}
         RETURNING ${COLUMNS})
       SELECT del.*, pg_notify('${CHANNEL}', $3) FROM del`,
      [path, fence.token, this.#notice(path, false), fence.epoch],
    );
    const deleted = result.rows[0];
    if (deleted !== undefined) return toEntry(deleted);
    if ((await this.getEntry(path)) === null) return null;
    if (await this.hasChildren(path)) throw new AppError('DIRECTORY_NOT_EMPTY', `directory not empty: ${path}`);
    throw new AppError('LOCK_LOST', `a newer writer has changed ${path}; this delete was refused`);
  }

  commitWrite(write: WriteCommit): Promise<CommitOutcome> {
    return this.#commits.submit(write);
  }

  /**
   * Sends the commits that arrived together as ONE round trip: a simple-protocol query string
   * `BEGIN; SELECT callfs_commit_writes(…); COMMIT; SELECT pg_current_wal_insert_lsn()`. The
   * last statement runs after COMMIT returned, so the token it reads lies past the commit
   * record (a replica that replayed up to it has the rows). Values travel as escaped literals
   * (the simple protocol has no parameters). Commits are ordered by path so that batches lock
   * rows in one order and cannot deadlock each other.
   */
  async #commitBatch(writes: readonly WriteCommit[]): Promise<Array<PromiseSettledResult<CommitOutcome>>> {
    const order = writes.map((_, i) => i).sort((a, b) => {
      const pa = writes[a]?.path ?? '';
      const pb = writes[b]?.path ?? '';
      return pa < pb ? -1 : pa > pb ? 1 : a - b;
    });
    const epochs = new Set(writes.map((w) => w.epoch));
    // One epoch per batch: a node's writes share its view; mixed views are sent one by one.
    if (epochs.size > 1) return Promise.all(writes.map((w) => this.#commitBatch([w]).then((r) => r[0] ?? { status: 'rejected' as const, reason: new Error('no result') })));
    const epoch = writes[0]?.epoch ?? null;
    const payload = JSON.stringify(order.map((i) => commitRequest(writes[i] as WriteCommit)));
    const text =
      `BEGIN; SELECT callfs_commit_writes(${pg.escapeLiteral(payload)}::jsonb, ${epoch === null ? 'NULL' : String(Math.trunc(epoch))}::bigint) AS r; ` +
      'COMMIT; SELECT pg_current_wal_insert_lsn()::text AS lsn';
    const client = await this.#connect();
    let results: pg.QueryResult[];
    try {
      results = (await client.query(text)) as unknown as pg.QueryResult[];
    } catch (error) {
      this.#pool.reportFailure(error);
      // A failure inside the string leaves the session in the aborted transaction block.
      const clean = await client.query('ROLLBACK').then(
        () => true,
        () => false,
      );
      client.release(!clean);
      throw translatePgError(error);
    }
    client.release();
    const answers = (results[1]?.rows[0] as { r?: CommitJson[] } | undefined)?.r ?? [];
    const token = (results[3]?.rows[0] as { lsn?: string } | undefined)?.lsn ?? null;
    const settled: Array<PromiseSettledResult<CommitOutcome>> = new Array<PromiseSettledResult<CommitOutcome>>(writes.length);
    order.forEach((index, position) => {
      const answer = answers[position];
      const write = writes[index] as WriteCommit;
      try {
        if (answer === undefined) throw new Error('commit batch returned too few results');
        settled[index] = { status: 'fulfilled', value: this.#outcome(write, answer, token) };
      } catch (error) {
        settled[index] = { status: 'rejected', reason: error };
      }
    });
    return settled;
  }

  #outcome(write: WriteCommit, answer: CommitJson, token: string | null): CommitOutcome {
    if ('error' in answer) {
      switch (answer.error) {
        case 'CF101':
          return { kind: 'exists', current: detailEntry(answer.detail) ?? missingRow(write.path) };
        case 'CF102':
          return { kind: 'changed', current: detailEntry(answer.detail) };
        case 'CF103':
          throw new AppError('PERMISSION_DENIED', 'permission denied');
        case 'CF104':
          throw new AppError('IS_A_DIRECTORY', `${write.path} is a directory`);
        case 'CF105':
          throw new AppError('PARENT_NOT_DIRECTORY', `${answer.detail ?? 'a parent'} is a file, not a directory`);
        default: {
          const error = Object.assign(new Error(answer.message), { code: answer.error });
          this.#pool.reportFailure(error);
          throw translatePgError(error);
        }
      }
    }
    const previous = answer.previous;
    const replaced: ReplacedVersion | null =
      previous === null
        ? null
        : { path: previous.path, version: Number(previous.version), blobKey: previous.blob_key, backendType: previous.backend_type, instanceId: previous.instance_id };
    return { kind: 'committed', created: answer.created, entry: entryFromJson(answer.entry), replaced, createdDirectories: answer.made, token };
  }

  async adoptBlobKey(path: string, version: number, blobKey: string): Promise<boolean> {
    const result = await this.#query<{ path: string }>(
      `WITH adopted AS (
         UPDATE inodes SET blob_key = $3 WHERE path = $1 AND version = $2 AND type = 'file' AND blob_key IS NULL RETURNING path),
       forgotten AS (DELETE FROM replicas r USING adopted a WHERE r.path = a.path)
       SELECT path, pg_notify('${CHANNEL}', $4) FROM adopted`,
      [path, version, blobKey, this.#notice(path, false)],
    );
    return result.rows.length > 0;
  }

  async legacyFiles(holder: string | null, backend: BackendType, afterPath: string, limit: number): Promise<Entry[]> {
    const result = await this.#query<EntryRow>(
      `SELECT ${COLUMNS} FROM inodes
        WHERE type = 'file' AND blob_key IS NULL AND backend_type = $1 AND callfs_instance_id IS NOT DISTINCT FROM $2
          AND path COLLATE "C" > $3 COLLATE "C"
        ORDER BY path COLLATE "C" LIMIT $4`,
      [backend, holder, afterPath, limit],
    );
    return result.rows.map(toEntry);
  }

  async moveEntry(from: string, to: string, options: MoveOptions): Promise<Entry> {
    return this.#move(from, to, options, this.#notice(from, true));
  }

  async #move(from: string, to: string, options: MoveOptions, payload: string): Promise<Entry> {
    const client = await this.#connect();
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
      this.#pool.reportFailure(error);
      await client.query('ROLLBACK').catch(() => undefined);
      throw translatePgError(error);
    } finally {
      client.release();
    }
  }

  async insertLink(link: Omit<LinkRecord, 'status' | 'createdAt'>): Promise<void> {
    await this.#query('INSERT INTO single_use_links (token, file_path, status, expires_at, hmac_signature) VALUES ($1, $2, $3, $4, $5)', [
      link.token,
      link.path,
      'active',
      link.expiresAt,
      link.signature,
    ]);
  }

  async getLink(token: string): Promise<LinkRecord | null> {
    const result = await this.#query<{ token: string; file_path: string; hmac_signature: string; expires_at: Date; status: string; created_at: Date }>(
      'SELECT token, file_path, hmac_signature, expires_at, status, created_at FROM single_use_links WHERE token = $1',
      [token],
    );
    const row = result.rows[0];
    if (row === undefined) return null;
    return { token: row.token, path: row.file_path, signature: row.hmac_signature, expiresAt: row.expires_at, status: row.status === 'active' ? 'active' : 'used', createdAt: row.created_at };
  }

  async consumeLink(token: string, usedByIp: string | null): Promise<boolean> {
    const ip = usedByIp?.replace(/^::ffff:/, '') ?? null;
    const result = await this.#query(
      "UPDATE single_use_links SET status = 'used', used_at = now(), used_by_ip = $2::inet WHERE token = $1 AND status = 'active' AND expires_at > now()",
      [token, ip !== null && /^[0-9a-fA-F:.]+$/.test(ip) ? ip : null],
    );
    return result.rowCount === 1;
  }

  async releaseLink(token: string): Promise<boolean> {
    const result = await this.#query(
      "UPDATE single_use_links SET status = 'active', used_at = NULL, used_by_ip = NULL WHERE token = $1 AND status = 'used' AND expires_at > now()",
      [token],
    );
    return result.rowCount === 1;
  }

  async deleteStaleLinks(usedRetentionMs: number): Promise<number> {
    const result = await this.#query(
      "DELETE FROM single_use_links WHERE (status = 'active' AND expires_at < now()) OR (status = 'used' AND used_at < now() - make_interval(secs => $1))",
      [usedRetentionMs / 1000],
    );
    return result.rowCount ?? 0;
  }

  async cluster(): Promise<ClusterRecord> {
    const result = await this.#query<{ cluster_id: string; predates_markers: boolean; holds_entries: boolean }>(
      `SELECT cluster_id, predates_markers, EXISTS (SELECT 1 FROM inodes WHERE path <> '/') AS holds_entries FROM callfs_cluster WHERE id = 1`,
    );
    const row = result.rows[0];
    // Migration 7 creates the row; a database without it was tampered with, and nothing is assumed.
    if (row === undefined) throw new AppError('METADATA_UNAVAILABLE', 'the metadata database has no cluster identity (table callfs_cluster is empty)');
    return { clusterId: row.cluster_id, predatesMarkers: row.predates_markers, holdsEntries: row.holds_entries };
  }

  async unreferencedBlobKeys(keys: readonly string[]): Promise<string[]> {
    if (keys.length === 0) return [];
    const result = await this.#query<{ k: string }>('SELECT k FROM unnest($1::text[]) AS k WHERE NOT EXISTS (SELECT 1 FROM inodes WHERE blob_key = k)', [keys]);
    return result.rows.map((r) => r.k);
  }

  async highestFence(): Promise<number> {
    const result = await this.#query<{ fence: string }>('SELECT COALESCE(max(fence), 0) AS fence FROM inodes');
    return Number(result.rows[0]?.fence ?? 0);
  }

  /**
   * Resolves once every change committed before the call has reached the subscribers (true), or
   * with false when the feed cannot vouch for that (not connected, slow): then the caller must read
   * the database. It is a round trip on the LISTEN connection: Postgres delivers pending
   * notifications to a session before it answers that session's next query. Concurrent callers
   * share round trips: a caller arriving while one is in flight waits for the next one (only a
   * query sent after the call covers changes committed just before it).
   */
  syncChanges(): Promise<boolean> {
    if (this.#syncInFlight === null) return this.#sendSync();
    this.#syncQueued ??= this.#syncInFlight.then(() => {
      this.#syncQueued = null;
      return this.#sendSync();
    });
    return this.#syncQueued;
  }

  #sendSync(): Promise<boolean> {
    const client = this.#listener;
    if (!this.#listening || client === null) return Promise.resolve(false);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), SYNC_TIMEOUT_MS);
      timer.unref();
    });
    const query = client.query('SELECT 1').then(
      () => this.#listener === client && this.#listening,
      () => false,
    );
    const sync: Promise<boolean> = Promise.race([query, timeout]).finally(() => {
      clearTimeout(timer);
      if (this.#syncInFlight === sync) this.#syncInFlight = null;
    });
    this.#syncInFlight = sync;
    return sync;
  }

  subscribe(listener: (change: MetadataChange) => void): () => void {
    this.#listeners.add(listener);
    if (this.#listener === null && this.#listenTimer === null) this.#startListening(false);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  async claimPeerNonce(nonce: string, ttlMs: number): Promise<boolean> {
    return (await this.claimPeerNonces([nonce], ttlMs)).has(nonce);
  }

  async claimPeerNonces(nonces: readonly string[], ttlMs: number): Promise<ReadonlySet<string>> {
    // A row whose time to live has passed may be claimed again (it is about to be purged anyway).
    // RETURNING names the rows inserted or reclaimed: exactly the nonces not seen before.
    const result = await this.#query<{ nonce: string }>(
      `INSERT INTO callfs_peer_nonces (nonce, expires_at) SELECT DISTINCT n, now() + make_interval(secs => $2) FROM unnest($1::text[]) AS n
       ON CONFLICT (nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE callfs_peer_nonces.expires_at < now() RETURNING nonce`,
      [nonces, ttlMs / 1000],
    );
    if (Date.now() - this.#noncesPurgedAt > 60_000) {
      this.#noncesPurgedAt = Date.now();
      void this.#query('DELETE FROM callfs_peer_nonces WHERE expires_at < now()').catch(() => undefined);
    }
    return new Set(result.rows.map((row) => row.nonce));
  }

  async ping(): Promise<void> {
    await this.#query('SELECT 1');
  }

  async readEpoch(): Promise<EpochState> {
    const result = await this.#query<EpochStateRow>(READ_EPOCH_STATE);
    return epochStateFromRow(result.rows[0]);
  }

  addPrimaryCandidate(hostPort: string): boolean {
    return this.#pool.addHost(hostPort);
  }

  /** The insert position: past every committed record, even with `synchronous_commit = off`. */
  async currentLsn(): Promise<string> {
    const result = await this.#query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
    return result.rows[0]?.lsn ?? '0/0';
  }

  async replayLsn(): Promise<string | null> {
    // A primary (read_dsn naming the primary itself) has everything it wrote: its insert position.
    const result = await this.#query<{ lsn: string | null }>(
      'SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END)::text AS lsn',
    );
    return result.rows[0]?.lsn ?? null;
  }

  async lagMs(): Promise<number> {
    const result = await this.#query<{ lag: number | null }>(
      `SELECT CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                   ELSE (EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp())) * 1000)::float8 END AS lag`,
    );
    return Math.max(0, Math.round(Number(result.rows[0]?.lag ?? 0)));
  }

  async heartbeat(member: MemberAnnouncement, forgetAfterMs: number): Promise<void> {
    await this.#query(
      `WITH forgotten AS (DELETE FROM cluster_members WHERE last_seen < now() - make_interval(secs => $6::double precision / 1000) AND instance_id <> $1)
       INSERT INTO cluster_members (instance_id, internal_url, region, version, started_at, last_seen, tls_certificates)
       VALUES ($1, $2, $3, $4, $5, now(), $7)
       ON CONFLICT (instance_id) DO UPDATE SET internal_url = EXCLUDED.internal_url, region = EXCLUDED.region,
         version = EXCLUDED.version, started_at = EXCLUDED.started_at, last_seen = now(), tls_certificates = EXCLUDED.tls_certificates`,
      [member.instanceId, member.internalUrl, member.region, member.version, member.startedAt, forgetAfterMs, member.tlsCertificates],
    );
  }

  async deregister(instanceId: string): Promise<void> {
    await this.#query('DELETE FROM cluster_members WHERE instance_id = $1', [instanceId]);
  }

  async recordReplica(path: string, instanceId: string, version: number): Promise<boolean> {
    const result = await this.#query(
      `INSERT INTO replicas (path, instance_id, version)
       SELECT path, $2, version FROM inodes WHERE path = $1 AND version = $3 AND type = 'file'
       ON CONFLICT (path, instance_id) DO UPDATE SET version = EXCLUDED.version, updated_at = now()`,
      [path, instanceId, version],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async currentReplicas(path: string, version: number): Promise<string[]> {
    // Only copies of the version the database holds now: a reader with a stale cached entry finds none.
    const result = await this.#query<{ instance_id: string }>(
      `SELECT r.instance_id FROM replicas r JOIN inodes i ON i.path = r.path AND i.version = r.version
        WHERE r.path = $1 AND r.version = $2 ORDER BY r.instance_id COLLATE "C"`,
      [path, version],
    );
    return result.rows.map((r) => r.instance_id);
  }

  async underReplicated(holder: string, wanted: number, limit: number): Promise<UnderReplicated[]> {
    const result = await this.#query<{ path: string; version: string; size: string; replicas: string[] }>(
      `SELECT i.path, i.version, i.size,
              coalesce(array_agg(r.instance_id ORDER BY r.instance_id) FILTER (WHERE r.version = i.version AND r.instance_id <> $1), '{}') AS replicas
         FROM inodes i LEFT JOIN replicas r ON r.path = i.path
        WHERE i.callfs_instance_id = $1 AND i.type = 'file' AND i.backend_type = 'localfs'
        GROUP BY i.path, i.version, i.size
       HAVING count(r.instance_id) FILTER (WHERE r.version = i.version AND r.instance_id <> $1) < $2
        ORDER BY i.path COLLATE "C" LIMIT $3`,
      [holder, wanted, limit],
    );
    return result.rows.map((r) => ({ path: r.path, version: Number(r.version), size: Number(r.size), replicas: r.replicas }));
  }

  async promoteReplicas(oldHolder: string, newHolder: string): Promise<string[]> {
    const result = await this.#query<{ path: string }>(
      `WITH promoted AS (
         UPDATE inodes i SET callfs_instance_id = $2, ctime = now()
           FROM replicas r
          WHERE r.path = i.path AND r.instance_id = $2 AND r.version = i.version
            AND i.callfs_instance_id = $1 AND i.type = 'file' AND i.backend_type = 'localfs'
         RETURNING i.path),
       dropped AS (DELETE FROM replicas r USING promoted p WHERE r.path = p.path AND r.instance_id = $2)
       SELECT path, pg_notify('${CHANNEL}', json_build_object('p', path, 's', false)::text) FROM promoted`,
      [oldHolder, newHolder],
    );
    return result.rows.map((r) => r.path);
  }

  async replicaHoldersOf(holder: string): Promise<string[]> {
    const result = await this.#query<{ instance_id: string }>(
      `SELECT r.instance_id FROM replicas r JOIN inodes i ON i.path = r.path AND i.version = r.version
        WHERE i.callfs_instance_id = $1 AND r.instance_id <> $1
        GROUP BY r.instance_id ORDER BY count(*) DESC, r.instance_id COLLATE "C"`,
      [holder],
    );
    return result.rows.map((r) => r.instance_id);
  }

  async countUnreplicated(holder: string): Promise<number> {
    const result = await this.#query<{ n: string }>(
      `SELECT count(*) AS n FROM inodes i
        WHERE i.callfs_instance_id = $1 AND i.type = 'file' AND i.backend_type = 'localfs'
          AND NOT EXISTS (SELECT 1 FROM replicas r WHERE r.path = i.path AND r.version = i.version AND r.instance_id <> $1)`,
      [holder],
    );
    return Number(result.rows[0]?.n ?? 0);
  }

  async listMembers(): Promise<MemberRecord[]> {
    const result = await this.#query<{ instance_id: string; internal_url: string; region: string; version: string; started_at: Date; last_seen: Date; age_ms: number; tls_certificates: string | null }>(
      `SELECT instance_id, internal_url, region, version, started_at, last_seen, tls_certificates,
              (EXTRACT(EPOCH FROM (now() - last_seen)) * 1000)::float8 AS age_ms
         FROM cluster_members ORDER BY instance_id COLLATE "C"`,
    );
    return result.rows.map((r) => ({
      instanceId: r.instance_id,
      internalUrl: r.internal_url,
      region: r.region,
      version: r.version,
      startedAt: r.started_at,
      tlsCertificates: r.tls_certificates,
      lastSeen: r.last_seen,
      ageMs: Math.max(0, Number(r.age_ms)),
    }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#listenTimer !== null) clearTimeout(this.#listenTimer);
    const listener = this.#listener;
    this.#listener = null;
    await listener?.end().catch(() => undefined);
    await this.#pool.end().catch(() => undefined);
  }

  async #connect(): Promise<pg.PoolClient> {
    try {
      return await this.#pool.connect();
    } catch (error) {
      throw translatePgError(error);
    }
  }

  /**
   * The notification of one write: the payload its own transaction publishes with `pg_notify`.
   * Readers on other nodes see it before their next cache hit is trusted (`syncChanges`), so the
   * writer need not wait for it to travel.
   */
  #notice(path: string, subtree: boolean): string {
    return JSON.stringify({ p: path, s: subtree });
  }

  #emit(change: MetadataChange): void {
    for (const listener of this.#listeners) listener(change);
  }

  /** Opens the LISTEN connection; on loss, tells listeners to drop everything and retries. */
  #startListening(isReconnect: boolean, delayMs = 250): void {
    if (this.#closed) return;
    const client = this.#pool.dedicatedClient();
    let failed = false;
    const retry = (): void => {
      // A client replaced by #followPrimary was already closed there.
      if (failed || this.#closed || this.#listener !== client) return;
      failed = true;
      this.#pool.suspect();
      if (this.#listener === client) this.#listener = null;
      this.#listening = false;
      client.end().catch(() => undefined);
      this.#emit({ path: '/', subtree: true });
      this.#listenTimer = setTimeout(() => {
        this.#listenTimer = null;
        this.#startListening(true, Math.min(delayMs * 2, 5000));
      }, delayMs);
      this.#listenTimer.unref();
    };
    client.on('error', retry);
    client.on('end', retry);
    client.on('notification', (message) => {
      if (message.payload === undefined) return;
      try {
        const parsed = JSON.parse(message.payload) as { p?: unknown; s?: unknown };
        if (typeof parsed.p === 'string' && parsed.p !== '') this.#emit({ path: parsed.p, subtree: parsed.s === true });
      } catch {
        this.#emit({ path: '/', subtree: true });
      }
    });
    this.#listener = client;
    client
      .connect()
      .then(() => client.query(`LISTEN ${CHANNEL}`))
      .then(() => {
        this.#listening = true;
        if (isReconnect) this.#emit({ path: '/', subtree: true });
      })
      .catch(retry);
  }

  /** The pool moved to a new primary: move the LISTEN connection there now, not after a backoff. */
  #followPrimary(): void {
    if (this.#closed || (this.#listener === null && this.#listenTimer === null)) return;
    if (this.#listenTimer !== null) clearTimeout(this.#listenTimer);
    this.#listenTimer = null;
    const stale = this.#listener;
    this.#listener = null;
    this.#listening = false;
    stale?.end().catch(() => undefined);
    this.#emit({ path: '/', subtree: true });
    this.#startListening(true);
  }
}
