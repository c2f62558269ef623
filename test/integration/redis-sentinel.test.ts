/**
 * Locks through Redis Sentinel across a master switch. The lock manager must work when addressed
 * through the sentinels, and a node under a steady write load must come through both a graceful
 * `SENTINEL FAILOVER` and a killed master: every write it acknowledged is readable afterwards
 * with the same bytes, writes resume within a bounded time, anything that failed in between is a
 * 503 JSON error (never a 500 and never a hang), and its locks now live on the promoted master.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRedisLockManager } from '../../app/adapters/locks/redis.js';
import { lockHomeKeys } from '../../app/fencing/index.js';
import { describeLockManagerContract } from '../contract/lock-manager.contract.js';
import { createTestDatabase } from '../../scripts/local-services/postgres.js';
import { startRedisSentinel, type RedisSentinelSetup } from '../support/redis-sentinel.js';
import { api, startTestNode, type TestNode } from '../support/test-node.js';

const LOOPS = 4;
const REQUEST_TIMEOUT_MS = 10_000;
const LOCK_WAIT_MS = 800;
/** Longest time without any acknowledged write that a failover may cause (switch ≈ 2–3 s here). */
const MAX_WRITE_GAP_MS = 8000;
const FENCE_KEY = lockHomeKeys().fence;

interface Outcome {
  readonly path: string;
  readonly method: 'POST' | 'PUT';
  readonly endedAt: number;
  readonly status: number;
  readonly body: unknown;
}

let setup: RedisSentinelSetup;
let prefixCounter = 0;

beforeAll(async () => {
  setup = await startRedisSentinel();
});

afterAll(async () => {
  await setup.stop();
});

describe('lock manager through Sentinel', () => {
  describeLockManagerContract('Redis through Sentinel', async () =>
    createRedisLockManager({ sentinels: setup.sentinels, masterName: setup.masterName, keyPrefix: `test:sentinel:${prefixCounter++}:` }),
  );

  it('draws fencing tokens from the master clock, so they stay ahead of a lost counter', async () => {
    const locks = await createRedisLockManager({ sentinels: setup.sentinels, masterName: setup.masterName, keyPrefix: 'test:sentinel:fence:' });
    const first = await locks.acquire(['/f'], { waitMs: 500 });
    await first.release();
    // A promoted replica that missed the last increments starts from an older counter value.
    await setup.command(await setup.masterPort(), 'SET', 'test:sentinel:fence:fence', '1');
    const second = await locks.acquire(['/f'], { waitMs: 500 });
    expect(second.fence).toBeGreaterThan(first.fence);
    await second.release();
    await locks.close();
  });

  it('fails with LOCK_UNAVAILABLE, not a hang, when the sentinels name no reachable master', async () => {
    const locks = createRedisLockManager({ sentinels: ['127.0.0.1:1'], masterName: setup.masterName, connectTimeoutMs: 500 });
    await expect(locks).rejects.toMatchObject({ code: 'LOCK_UNAVAILABLE' });
  });
});

describe('a node under write load while the master changes', () => {
  let node: TestNode;
  let files: ReturnType<typeof api>;
  /** path → bytes of the last acknowledged write. */
  const acknowledged = new Map<string, Buffer>();
  /** Directories whose creation was acknowledged. */
  const directories = new Set<string>();

  beforeAll(async () => {
    const dsn = await createTestDatabase(inject('pgAdminUrl'));
    // A lock wait shorter than the sentinels' down-after (1 s): writes caught by a killed master
    // cannot ride it out and must come back as 503s, which is what the second test checks.
    node = await startTestNode({ dsn, redisSentinels: setup.sentinels, redisMasterName: setup.masterName, lockWaitMs: LOCK_WAIT_MS });
    files = api(node.url);
  });

  afterAll(async () => {
    await node?.close();
  });

  /**
   * Writes in LOOPS parallel loops while `action` runs: POST a new file, then create a directory
   * (which takes a lock: file writes commit without one), then PUT over the last file acknowledged.
   */
  async function writeDuring(name: string, action: () => Promise<void>): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    let running = true;
    const loop = async (loopId: number): Promise<void> => {
      let lastAcked: string | null = null;
      for (let round = 0; running; round++) {
        const step = round % 3;
        if (step === 1) {
          const dir = `/${name}/loop${loopId}/dir${round}`;
          const res = await files(`/v1/files${dir}/`, { method: 'POST', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
          const text = await res.text();
          outcomes.push({ path: `${dir}/`, method: 'POST', endedAt: Date.now(), status: res.status, body: res.status < 300 ? null : parseJson(text) });
          if (res.status < 300) directories.add(dir);
          else await new Promise((r) => setTimeout(r, 20));
          continue;
        }
        const target: string | null = step === 2 ? lastAcked : null;
        const path: string = target ?? `/${name}/loop${loopId}/file${round}.bin`;
        const method = target === null ? 'POST' : 'PUT';
        const bytes = randomBytes(64 + ((loopId * 31 + round) % 200));
        const res = await files(`/v1/files${path}`, { method, body: bytes, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        const text = await res.text();
        outcomes.push({ path, method, endedAt: Date.now(), status: res.status, body: res.status < 300 ? null : parseJson(text) });
        if (res.status < 300) {
          acknowledged.set(path, bytes);
          lastAcked = path;
        } else {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    const loops = Array.from({ length: LOOPS }, (_, i) => loop(i));
    try {
      await new Promise((r) => setTimeout(r, 1000));
      await action();
      // Keep writing until a directory (the write that takes a lock: file writes commit without
      // Redis) is acknowledged after the switch, bounded by the gap the test allows, then a little
      // longer: a loaded machine may take a while to follow the new master.
      const switched = Date.now();
      const lockedAfterSwitch = (o: Outcome): boolean => o.status < 300 && o.endedAt > switched && o.path.endsWith('/');
      while (!outcomes.some(lockedAfterSwitch) && Date.now() - switched < MAX_WRITE_GAP_MS) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      running = false;
      await Promise.all(loops);
    }
    return outcomes;
  }

  /** Failures are 503 JSON; writes were acknowledged before and after the switch, with no long gap. Returns the failures. */
  function expectHealthyOutcomes(outcomes: readonly Outcome[], switchedAt: number): Outcome[] {
    const failures = outcomes.filter((o) => o.status >= 300);
    for (const failure of failures) {
      expect(failure.status, `${failure.method} ${failure.path}`).toBe(503);
      expect(failure.body).toEqual({ code: expect.stringMatching(/^(LOCK_UNAVAILABLE|LOCK_TIMEOUT)$/), message: expect.any(String) });
    }
    const acks = outcomes.filter((o) => o.status < 300).map((o) => o.endedAt).sort((a, b) => a - b);
    expect(acks.some((t) => t < switchedAt)).toBe(true);
    expect(acks.some((t) => t > switchedAt)).toBe(true);
    const longestGap = Math.max(...acks.slice(1).map((t, i) => t - (acks[i] ?? t)));
    expect(longestGap).toBeLessThan(MAX_WRITE_GAP_MS);
    return failures;
  }

  async function expectEveryAcknowledgedWriteReadable(): Promise<void> {
    for (const [path, bytes] of acknowledged) {
      const res = await files(`/v1/files${path}`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      expect(res.status, path).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes), path).toBe(true);
    }
    for (const dir of directories) {
      const res = await files(`/v1/files${dir}`, { method: 'HEAD', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      expect(res.status, dir).toBe(200);
      expect(res.headers.get('x-callfs-type'), dir).toBe('directory');
    }
  }

  /** The node's next grant (a directory is created under a lock) increments the fence on `port`, so that is the Redis it locks on. */
  async function expectNodeLocksOn(port: number): Promise<void> {
    expect(String(await setup.command(port, 'INFO', 'replication'))).toContain('role:master');
    const before = Number(await setup.command(port, 'GET', FENCE_KEY));
    const res = await files(`/v1/files/probe-${port}/`, { method: 'POST', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    expect(res.status).toBeLessThan(300);
    expect(Number(await setup.command(port, 'GET', FENCE_KEY))).toBeGreaterThan(before);
  }

  it('rides out a graceful SENTINEL FAILOVER', { timeout: 60_000 }, async () => {
    const oldMaster = await setup.masterPort();
    let switchedAt = 0;
    let newMaster = 0;
    const outcomes = await writeDuring('graceful', async () => {
      newMaster = await setup.failover();
      switchedAt = Date.now();
    });
    expect(newMaster).not.toBe(oldMaster);
    expectHealthyOutcomes(outcomes, switchedAt);
    await expectEveryAcknowledgedWriteReadable();
    await expectNodeLocksOn(newMaster);
  });

  it('comes through a killed master', { timeout: 60_000 }, async () => {
    const oldMaster = await setup.masterPort();
    await setup.waitForReplicas(oldMaster, 1);
    let switchedAt = 0;
    let newMaster = 0;
    const outcomes = await writeDuring('killed', async () => {
      await setup.kill(oldMaster);
      newMaster = await setup.waitForNewMaster(oldMaster);
      switchedAt = Date.now();
    });
    expect(newMaster).not.toBe(oldMaster);
    const failures = expectHealthyOutcomes(outcomes, switchedAt);
    expect(failures.length).toBeGreaterThan(0);
    await expectEveryAcknowledgedWriteReadable();
    await expectNodeLocksOn(newMaster);
  });
});

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
