/**
 * `npm run bench:write-phases`: where a small durable write's time goes, on this machine's disk
 * and a real Postgres, without HTTP in the way. Runs the same burst of 4 KiB writes (new files
 * and replacements, CONCURRENCY at once) through:
 *
 * - `locked`: the write path before the versioned layout, rebuilt from the same adapters: path
 *   lock (in-process, as `npm run bench` configures), row read under the lock, bytes to a temp
 *   file + fsync + rename + directory fsync at the path, row insert/update (with NOTIFY), lock
 *   release, then the token query;
 * - `versioned`: bytes to a fresh blob key (O_EXCL + fsync + directory fsync), then one
 *   `commitWrite` call (epoch check, semantics, row, NOTIFY and token in one round trip), with
 *   group commit off (`maxBatch: 1`) and on (the default).
 *
 * Prints, per pipeline, writes/s and the mean and p50 of each phase in ms (JSON with --json).
 * Env: WRITES (2000) CONCURRENCY (32) SIZE (4096).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { LocalFsBlobStore } from '../app/adapters/blob/local-fs.js';
import { MemoryLockManager } from '../app/adapters/locks/memory.js';
import { createPostgresMetadataStore, type PostgresMetadataStore } from '../app/adapters/metadata/postgres.js';
import { newBlobKey } from '../app/domain/blob-key.js';
import { toBlobKey } from '../app/domain/path.js';
import { readCommandLine } from '../app/cli/command-line.js';
import { createTestDatabase, startPostgres } from './local-services/postgres.js';

const USAGE = `usage: npm run bench:write-phases [-- --json]

Where a small durable write's time goes: the same burst of 4 KiB writes through the write path
before the versioned layout and through the versioned one (group commit off and on), on this
machine's disk and a real Postgres, without HTTP. Prints writes/s and each phase's mean and p50.

options:
  --json        machine-readable results on stdout
  -h, --help    this text
  --version     the geo-callfs and Node versions
environment: WRITES (2000) CONCURRENCY (32) SIZE (4096)`;

const { values: flags } = readCommandLine({ command: 'npm run bench:write-phases --', usage: USAGE, options: { json: { type: 'boolean' } } });
const WRITES = Number(process.env['WRITES'] ?? '2000');
const CONCURRENCY = Number(process.env['CONCURRENCY'] ?? '32');
const SIZE = Number(process.env['SIZE'] ?? '4096');
const body = Buffer.alloc(SIZE, 7);

type Phases = Record<string, number[]>;

function record(phases: Phases, name: string, started: number): number {
  const now = performance.now();
  (phases[name] ??= []).push(now - started);
  return now;
}

/** Runs `one(i)` for i in [0, WRITES) with CONCURRENCY workers; returns writes per second. */
async function burst(one: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < WRITES) await one(next++);
    }),
  );
  return WRITES / ((performance.now() - started) / 1000);
}

/** Half the writes create files, half replace one of them. */
const pathOf = (prefix: string, i: number): string => `/${prefix}/d${i % 16}/f${i % (WRITES / 2)}.bin`;

async function locked(store: PostgresMetadataStore, blobs: LocalFsBlobStore, phases: Phases): Promise<number> {
  const locks = new MemoryLockManager();
  await store.ensureDirectories([...Array(16).keys()].flatMap((d) => [{ path: '/locked', type: 'directory' as const, size: 0, owner: 'bench', backendType: 'localfs' as const, instanceId: 'bench', originInstanceId: 'bench' }, { path: `/locked/d${d}`, type: 'directory' as const, size: 0, owner: 'bench', backendType: 'localfs' as const, instanceId: 'bench', originInstanceId: 'bench' }]).filter((e, i, all) => all.findIndex((o) => o.path === e.path) === i), { token: 0, epoch: null });
  return burst(async (i) => {
    const path = pathOf('locked', i);
    let t = performance.now();
    const lock = await locks.acquire([path], { waitMs: 10_000 });
    t = record(phases, 'lock', t);
    const fence = { token: lock.fence, epoch: lock.epoch };
    try {
      const current = await store.entryForWrite(path, fence);
      t = record(phases, 'row read', t);
      await blobs.write(toBlobKey(path), Readable.from([body]), { exclusive: false, expectedSize: SIZE });
      t = record(phases, 'bytes (fsync, rename, dir fsync)', t);
      if (current === null) await store.createEntry({ path, type: 'file', size: SIZE, owner: 'bench', backendType: 'localfs', instanceId: 'bench', originInstanceId: 'bench' }, fence);
      else await store.updateContent(path, SIZE, fence);
      t = record(phases, 'SQL row + notify', t);
    } finally {
      await lock.release();
      t = record(phases, 'unlock', t);
    }
    await store.currentLsn();
    record(phases, 'token query', t);
  });
}

async function versioned(store: PostgresMetadataStore, blobs: LocalFsBlobStore, phases: Phases, prefix: string): Promise<number> {
  return burst(async (i) => {
    const path = pathOf(prefix, i);
    let t = performance.now();
    const blobKey = newBlobKey();
    await blobs.write(blobKey, Readable.from([body]), { exclusive: true, fresh: true, expectedSize: SIZE });
    t = record(phases, 'bytes (fsync, dir fsync)', t);
    const outcome = await store.commitWrite({
      path, mode: 'replace', owner: 'bench', superUser: false, size: SIZE, blobKey, backendType: 'localfs', instanceId: 'bench',
      originInstanceId: 'bench', directoryBackendType: 'localfs', directoryInstanceId: 'bench', epoch: null,
    });
    t = record(phases, 'commit (epoch, row, notify, token)', t);
    if (outcome.kind === 'committed' && outcome.replaced?.blobKey) await blobs.delete(outcome.replaced.blobKey);
    record(phases, 'release old version', t);
  });
}

function summary(phases: Phases): Record<string, { mean: number; p50: number }> {
  return Object.fromEntries(
    Object.entries(phases).map(([name, values]) => {
      const sorted = [...values].sort((a, b) => a - b);
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      return [name, { mean: Number(mean.toFixed(2)), p50: Number((sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(2)) }];
    }),
  );
}

async function main(): Promise<void> {
  const server = await startPostgres();
  const root = mkdtempSync(join(tmpdir(), 'callfs-phases-'));
  const results: Record<string, { writesPerSecond: number; phasesMs: Record<string, { mean: number; p50: number }> }> = {};
  try {
    const dsn = await createTestDatabase(server.adminUrl);
    const blobs = new LocalFsBlobStore({ rootPath: root });
    await blobs.init();
    const runs: Array<[string, (store: PostgresMetadataStore, phases: Phases) => Promise<number>, { maxInFlight: number; maxBatch: number } | undefined]> = [
      ['locked (before)', (s, p) => locked(s, blobs, p), undefined],
      ['versioned, no group commit', (s, p) => versioned(s, blobs, p, 'single'), { maxInFlight: CONCURRENCY, maxBatch: 1 }],
      ['versioned, group commit', (s, p) => versioned(s, blobs, p, 'grouped'), undefined],
    ];
    for (const [name, run, batching] of runs) {
      const store = await createPostgresMetadataStore({ dsn, poolSize: CONCURRENCY + 2, ...(batching ? { commitBatching: batching } : {}) });
      try {
        const phases: Phases = {};
        const writesPerSecond = await run(store, phases);
        results[name] = { writesPerSecond: Math.round(writesPerSecond), phasesMs: summary(phases) };
      } finally {
        await store.close();
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
    await server.destroy();
  }
  if (flags.json === true) {
    process.stdout.write(JSON.stringify({ writes: WRITES, concurrency: CONCURRENCY, size: SIZE, results }) + '\n');
    return;
  }
  process.stdout.write(`${WRITES} writes of ${SIZE} B, ${CONCURRENCY} at once\n`);
  for (const [name, result] of Object.entries(results)) {
    process.stdout.write(`\n${name}: ${result.writesPerSecond} writes/s\n`);
    for (const [phase, { mean, p50 }] of Object.entries(result.phasesMs)) process.stdout.write(`  ${phase.padEnd(40)} mean ${mean} ms  p50 ${p50} ms\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:write-phases: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
