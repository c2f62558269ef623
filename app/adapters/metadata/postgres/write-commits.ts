/**
 * @module PostgresWriteCommits: the versioned file write of the MetadataStore port (`commitWrite`)
 * on Postgres. Concurrent commits are batched (GroupCommit) into one round trip to the primary
 * that runs `callfs_commit_writes` (migrations.ts): it checks the fencing epoch, applies
 * create / replace / `expect` against the current row, creates missing parents and publishes the
 * changes; each commit's outcome is mapped back on its own.
 */
import pg from 'pg';
import type { Entry } from '../../../domain/entry.js';
import { AppError } from '../../../errors/app-error.js';
import type { CommitOutcome, ReplacedVersion, WriteCommit } from '../../../ports/metadata-store.js';
import { translatePgError } from '../errors.js';
import { GroupCommit } from '../group-commit.js';
import type { PostgresDatabase } from './database.js';
import { entryFromJson, nameOf, parentOf, type EntryJson } from './rows.js';

/** Batches of write commits on their way at once, and the most commits in one (group commit). */
const COMMIT_BATCHES_IN_FLIGHT = 4;
const COMMIT_BATCH_MAX = 64;

export interface CommitBatching {
  readonly maxInFlight: number;
  readonly maxBatch: number;
}

/** One result of `callfs_commit_writes`. */
type CommitJson =
  | { created: boolean; entry: EntryJson; made: string[]; previous: { path: string; version: number; blob_key: string | null; backend_type: 'localfs' | 's3'; instance_id: string | null } | null }
  | { error: string; message: string; detail: string | null };

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

/** A refusal that should name a row but came without one (cannot happen with the shipped SQL). */
function missingRow(path: string): never {
  throw new Error(`commit refused ${path} without naming the row`);
}

export class PostgresWriteCommits {
  readonly #db: PostgresDatabase;
  readonly #commits: GroupCommit<WriteCommit, CommitOutcome>;

  constructor(db: PostgresDatabase, batching?: CommitBatching) {
    this.#db = db;
    this.#commits = new GroupCommit<WriteCommit, CommitOutcome>({
      send: (writes) => this.#commitBatch(writes),
      maxInFlight: batching?.maxInFlight ?? COMMIT_BATCHES_IN_FLIGHT,
      maxBatch: batching?.maxBatch ?? COMMIT_BATCH_MAX,
    });
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
    const client = await this.#db.connect();
    let results: pg.QueryResult[];
    try {
      results = (await client.query(text)) as unknown as pg.QueryResult[];
    } catch (error) {
      this.#db.pool.reportFailure(error);
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
          this.#db.pool.reportFailure(error);
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
}
