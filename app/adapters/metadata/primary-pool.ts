/**
 * @module PrimaryPool: a `pg.Pool` that follows the primary of a DSN listing several hosts.
 * With one host it is a plain pool on the DSN as written. With several, it locates the primary
 * before first use; after a failure that may mean a switchover (connection refused or reset, a
 * read-only transaction, an administrator shutdown, a write refused by a fenced former primary)
 * it searches again in the background until
 * some host is primary, and when that is another host it swaps in a pool on it, retires the old
 * one and tells its owner, so the next request reaches the new primary without a restart.
 */
import pg from 'pg';
import { AppError } from '../../errors/app-error.js';
import { dsnWithHost, parseMultiHostDsn, type PostgresHost } from './multi-host-dsn.js';

/** Pool clients that already carry the checked-out error listener (clients are reused). */
const GUARDED = new WeakSet<pg.PoolClient>();
import { locatePrimary, type PrimaryLocation } from './primary-locator.js';

export interface PrimaryPoolOptions {
  readonly dsn: string;
  readonly max: number;
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
  /** Called after the pool has moved to another host, so dedicated connections can follow. */
  readonly onSwitch?: () => void;
}

/**
 * SQLSTATEs a primary answers while it steps down, or a standby answers to a write; CF001 is a
 * write refused by a fenced former primary (callfs_assert_epoch): its successor is elsewhere.
 */
const SWITCHOVER_SQLSTATES = new Set(['25006', '57P01', '57P02', '57P03', 'CF001']);
const LOST_CONNECTION_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);
const LOST_CONNECTION_MESSAGE = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout/i;

/** Search again after this long when no host is primary yet, doubling up to the maximum. */
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 2000;

/** True for failures after which the primary may have moved. */
export function isSwitchoverSign(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = 'code' in error ? String(error.code) : '';
  if (SWITCHOVER_SQLSTATES.has(code) || LOST_CONNECTION_ERRNO.has(code) || code.startsWith('08')) return true;
  return error instanceof Error && LOST_CONNECTION_MESSAGE.test(error.message);
}

interface ActivePool {
  readonly host: PostgresHost;
  readonly pool: pg.Pool;
}

export class PrimaryPool {
  readonly #options: PrimaryPoolOptions;
  readonly #hosts: PostgresHost[];
  #active: ActivePool | null = null;
  #locating: Promise<PrimaryLocation> | null = null;
  #watching = false;
  #pause: { timer: NodeJS.Timeout; resume: () => void } | null = null;
  #closed = false;

  constructor(options: PrimaryPoolOptions) {
    this.#options = options;
    this.#hosts = parseMultiHostDsn(options.dsn);
    const only = this.#hosts.length === 1 ? this.#hosts[0] : undefined;
    if (only !== undefined) this.#active = { host: only, pool: this.#createPool(only) };
  }

  async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    const pool = await this.#pool();
    try {
      return await pool.query<R>(text, values);
    } catch (error) {
      this.reportFailure(error);
      throw error;
    }
  }

  async connect(): Promise<pg.PoolClient> {
    const pool = await this.#pool();
    try {
      const client = await pool.connect();
      // A checked-out client has no pool listener: a connection ended by the server between two
      // queries (a failover's pg_terminate_backend) would be an uncaught 'error' and end the
      // process. The next query on it fails and reports it; the caller releases it then.
      if (!GUARDED.has(client)) {
        GUARDED.add(client);
        client.on('error', (error: Error) => this.reportFailure(error));
      }
      return client;
    } catch (error) {
      this.reportFailure(error);
      throw error;
    }
  }

  /** A new, unpooled client for the current primary (the caller connects and ends it). */
  dedicatedClient(): pg.Client {
    const host = this.#active?.host ?? this.#hosts[0];
    return new pg.Client({ connectionString: host?.dsn ?? this.#options.dsn, connectionTimeoutMillis: this.#options.connectTimeoutMs });
  }

  /**
   * Adds a host to search (`host:port`, e.g. the new primary a failover recorded) and searches
   * again. False when it is known already or is not `host:port`.
   */
  addHost(address: string): boolean {
    if (this.#closed || this.#hosts.some((h) => h.label === address)) return false;
    const first = this.#hosts[0];
    const dsn = first === undefined ? null : dsnWithHost(first.dsn, address);
    if (dsn === null) return false;
    this.#hosts.push({ label: address, dsn });
    this.suspect();
    return true;
  }

  /** Looks for the primary again if `error` suggests it may have moved. */
  reportFailure(error: unknown): void {
    if (isSwitchoverSign(error)) this.suspect();
  }

  /** Searches in the background until a primary is found (no-op with a single host). */
  suspect(): void {
    if (this.#hosts.length < 2 || this.#closed || this.#watching) return;
    this.#watching = true;
    void this.#watch().finally(() => {
      this.#watching = false;
    });
  }

  async end(): Promise<void> {
    this.#closed = true;
    if (this.#pause !== null) {
      clearTimeout(this.#pause.timer);
      this.#pause.resume();
    }
    const active = this.#active;
    this.#active = null;
    await active?.pool.end();
  }

  #createPool(host: PostgresHost): pg.Pool {
    const pool = new pg.Pool({
      connectionString: host.dsn,
      max: this.#options.max,
      connectionTimeoutMillis: this.#options.connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      statement_timeout: this.#options.statementTimeoutMs,
      query_timeout: this.#options.statementTimeoutMs + 1000,
    });
    // An idle connection that dies (server restart or shutdown) is reported here; the pool
    // replaces it, and with several hosts it is also a hint that the primary may have moved.
    pool.on('error', (error) => {
      if (this.#active?.pool === pool) this.reportFailure(error);
    });
    return pool;
  }

  async #pool(): Promise<pg.Pool> {
    const known = this.#active;
    if (known !== null) return known.pool;
    if (this.#closed) throw new AppError('METADATA_UNAVAILABLE', 'the metadata store is closed');
    const location = await this.#locate();
    const found = location.primary === null ? null : this.#active;
    if (found !== null) return found.pool;
    throw new AppError('METADATA_UNAVAILABLE', `no primary among the hosts of metadata_store.dsn: ${location.summary}`, { retryAfterSec: 1 });
  }

  /** One pass over the hosts; concurrent callers share it. Adopts the primary it finds. */
  #locate(): Promise<PrimaryLocation> {
    this.#locating ??= locatePrimary(this.#hosts, { connectTimeoutMs: this.#options.connectTimeoutMs, queryTimeoutMs: this.#options.connectTimeoutMs })
      .then((location) => {
        if (location.primary !== null) this.#adopt(location.primary);
        return location;
      })
      .finally(() => {
        this.#locating = null;
      });
    return this.#locating;
  }

  #adopt(host: PostgresHost): void {
    const previous = this.#active;
    if (this.#closed || previous?.host === host) return;
    this.#active = { host, pool: this.#createPool(host) };
    if (previous === null) return;
    // Requests still holding the old pool's clients finish (or fail) on their own; then it closes.
    previous.pool.end().catch(() => undefined);
    this.#options.onSwitch?.();
  }

  async #watch(): Promise<void> {
    for (let delay = FIRST_RETRY_MS; !this.#closed; delay = Math.min(delay * 2, MAX_RETRY_MS)) {
      const location = await this.#locate();
      if (location.primary !== null) return;
      await new Promise<void>((resume) => {
        const timer = setTimeout(resume, delay);
        timer.unref();
        this.#pause = { timer, resume };
      });
      this.#pause = null;
    }
  }
}
