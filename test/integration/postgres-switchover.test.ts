/**
 * A planned Postgres switchover under write load. The node's DSN lists a primary and its
 * streaming standby; halfway through the load the primary stops with a fast shutdown (which
 * ships all its WAL to the standby before exiting) and a second later the standby is promoted. Every write the
 * node acknowledged survives, writes resume soon after the promotion without restarting the
 * node, and the switch itself only ever answers 503 with a JSON error body: no 500, no hang.
 * The primary/standby pair is private to this file.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, queryOnce, startPostgres, startStandby, type PostgresServer, type StandbyServer } from '../../scripts/local-services/postgres.js';
import { api, startTestNode, type TestNode } from '../support/test-node.js';

const WRITERS = 4;
const REQUEST_TIMEOUT_MS = 10_000;
/** Acknowledged writes wanted before the switchover, and again after the promotion. */
const WRITES_PER_PHASE = 60;
/** How soon after the promotion the first write must be acknowledged again. */
const RESUME_WITHIN_MS = 8000;
/** Time between the primary's shutdown and the standby's promotion. */
const NO_PRIMARY_MS = 1000;

interface Outcome {
  readonly path: string;
  readonly body: string;
  readonly startedAt: number;
  readonly finishedAt: number;
  /** HTTP status, or `no answer` when the request failed or hit its timeout. */
  readonly status: number | 'no answer';
  readonly response: string;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

describe('Postgres switchover with a multi-host DSN', () => {
  let primary: PostgresServer | undefined;
  let standby: StandbyServer | undefined;
  let node: TestNode | undefined;
  let database = '';
  let multiHostDsn = '';

  beforeAll(async () => {
    primary = await startPostgres();
    const dsn = await createTestDatabase(primary.adminUrl);
    database = dsn.slice(dsn.lastIndexOf('/') + 1);
    standby = await startStandby(primary);
    const hosts = `127.0.0.1:${primary.port},127.0.0.1:${standby.port}`;
    multiHostDsn = `postgres://postgres@${hosts}/${database}?target_session_attrs=read-write`;
    node = await startTestNode({ dsn: multiHostDsn });
  }, 120_000);

  afterAll(async () => {
    await node?.close();
    await Promise.allSettled([primary?.destroy(), standby?.destroy()]);
  });

  it('keeps every acknowledged write, resumes soon after promotion and fails only with 503s meanwhile', async () => {
    if (node === undefined || primary === undefined || standby === undefined) throw new Error('setup failed');
    const files = api(node.url);
    const outcomes: Outcome[] = [];
    const acked = (since = 0): number => outcomes.filter((o) => o.status === 201 && o.startedAt >= since).length;
    let stopping = false;

    const writer = async (writerId: number): Promise<void> => {
      for (let n = 0; !stopping; n++) {
        const path = `/ha/w${writerId}/f${n}.txt`;
        const body = `writer ${writerId} file ${n} ${randomBytes(6).toString('hex')}`;
        const startedAt = Date.now();
        let status: Outcome['status'] = 'no answer';
        let response = '';
        try {
          const res = await files(`/v1/files${path}`, { method: 'POST', body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
          status = res.status;
          response = await res.text();
        } catch (error) {
          response = error instanceof Error ? error.message : String(error);
        }
        outcomes.push({ path, body, startedAt, finishedAt: Date.now(), status, response });
        // While the database is switching, do not spin on instant 503s.
        if (status !== 201) await sleep(50);
      }
    };

    const loops = Array.from({ length: WRITERS }, (_, id) => writer(id));
    let switchStartedAt = 0;
    let promotedAt = 0;
    try {
      await waitUntil(() => acked() >= WRITES_PER_PHASE, 30_000, 'writes before the switchover');
      switchStartedAt = Date.now();
      await primary.stop(); // SIGINT: pg_ctl's "fast" mode
      // A while with no primary at all, as when an operator or a failover manager takes its time.
      await sleep(NO_PRIMARY_MS);
      await standby.promote();
      promotedAt = Date.now();
      await waitUntil(() => acked(promotedAt) >= WRITES_PER_PHASE, 30_000, 'writes after the promotion');
    } finally {
      stopping = true;
      await Promise.all(loops);
    }

    // The switch answered 503 with a {code, message} body, never a 500, a timeout or a reset.
    const failures = outcomes.filter((o) => o.status !== 201);
    for (const failure of failures) {
      expect(failure.status, `${failure.path}: ${failure.response}`).toBe(503);
      const parsed = JSON.parse(failure.response) as unknown;
      expect(parsed).toEqual(expect.objectContaining({ code: expect.any(String) as string, message: expect.any(String) as string }));
      expect(failure.finishedAt).toBeGreaterThanOrEqual(switchStartedAt);
    }

    // Writes came back soon after the promotion, without restarting the node.
    const firstAfter = outcomes.filter((o) => o.status === 201 && o.startedAt >= promotedAt).sort((a, b) => a.finishedAt - b.finishedAt)[0];
    expect(firstAfter).toBeDefined();
    expect((firstAfter?.finishedAt ?? Infinity) - promotedAt).toBeLessThan(RESUME_WITHIN_MS);

    // Every acknowledged write is readable through the node, byte for byte ...
    const confirmed = outcomes.filter((o) => o.status === 201);
    for (const write of confirmed) {
      const res = await files(`/v1/files${write.path}`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      expect(res.status, write.path).toBe(200);
      expect(await res.text()).toBe(write.body);
    }
    // ... and is a row on the new primary.
    const newPrimaryDsn = `postgres://postgres@127.0.0.1:${standby.port}/${database}`;
    const rows = await queryOnce<{ path: string }>(newPrimaryDsn, 'SELECT path FROM inodes WHERE path = ANY($1::text[])', [confirmed.map((o) => o.path)]);
    expect(new Set(rows.map((r) => r.path))).toEqual(new Set(confirmed.map((o) => o.path)));
    const [role] = await queryOnce<{ recovering: boolean }>(newPrimaryDsn, 'SELECT pg_is_in_recovery() AS recovering');
    expect(role?.recovering).toBe(false);
  }, 120_000);

  it('moves its LISTEN connection to the new primary', async () => {
    if (standby === undefined) throw new Error('setup failed');
    const newPrimaryDsn = `postgres://postgres@127.0.0.1:${standby.port}/${database}`;
    const listening = async (): Promise<number> =>
      (await queryOnce<{ n: number }>(newPrimaryDsn, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN%'", [database]))[0]?.n ?? 0;
    let count = await listening();
    for (let i = 0; i < 100 && count === 0; i++) {
      await sleep(100);
      count = await listening();
    }
    expect(count).toBeGreaterThanOrEqual(1);
  });

  it('starts a node whose first listed host is down, on the primary listed after it', async () => {
    const late = await startTestNode({ dsn: multiHostDsn, instanceId: 'node-late' });
    try {
      const files = api(late.url);
      const created = await files('/v1/files/ha/late.txt', { method: 'POST', body: 'late', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      expect(created.status).toBe(201);
      expect(await (await files('/v1/files/ha/late.txt', { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })).text()).toBe('late');
    } finally {
      await late.close();
    }
  });
});
