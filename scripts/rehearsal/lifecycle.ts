/**
 * @module `up` and `down` of the local multi-region rehearsal. `up` builds, in this order: the
 * namespaces (a router plus one per region), the WAN delay (wan-delay on an NFQUEUE in the
 * router), the home region's Postgres primary, every region's Redis and S3 server, the streaming
 * replicas (pg_basebackup -R across the delayed WAN), the nodes (home region's first node first:
 * it runs the migrations), the GeoDNS stand-in and its health checker; then it measures the
 * RTTs. Everything is recorded in the state file as it is created; `down` stops exactly those
 * processes by PID and deletes exactly those namespaces. Both are idempotent.
 *
 * Each piece is its own module (network.ts, replication.ts, region-services.ts, nodes.ts,
 * geodns.ts), which the drills also use one server at a time; this one only orders them, holds
 * the rehearsal's lock and keeps the state file.
 */
import { chmodSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentialsOf } from '../local-credentials.js';
import { startDns } from './geodns.js';
import { planFile, withdrawnFile } from './health-checker.js';
import { createNetwork, deleteNetwork, measureRtt, startWanDelay } from './network.js';
import { namespaceExists, netnsAvailable } from './netns.js';
import { startNode } from './nodes.js';
import { loadPlan, pathsOf } from './paths.js';
import { startRedis, startReplicator, startS3 } from './region-services.js';
import { startPrimary, startReplica, waitForReplication } from './replication.js';
import { emptyState, readState, removeState, stopProcess, writeState, type ProcessRecord, type RehearsalState } from './state.js';
import { isRunning, takePidLock } from '../local-services/pid-lock.js';
import { buildWanDelay, ensureSystemPackages } from './system.js';
import { allNodes, type RehearsalOptions, type RehearsalPlan } from './topology.js';

export interface UpResult {
  readonly plan: RehearsalPlan;
  readonly state: RehearsalState;
  /** False when the rehearsal was already up and nothing was started. */
  readonly started: boolean;
}

/** Whether everything the state file records is still there. */
export function isFullyUp(state: RehearsalState | null): boolean {
  return state !== null && state.ready && state.processes.every(isRunning) && state.namespaces.every(namespaceExists);
}

/**
 * Runs `action` holding `<dir>/busy.json`, so that two `up`/`down` on one rehearsal never
 * interleave; a holder that is no longer running (killed) is taken over.
 */
async function exclusively<T>(dir: string, action: () => Promise<T>): Promise<T> {
  mkdirSync(dir, { recursive: true });
  const release = takePidLock(join(dir, 'busy.json'), {}, (holder) => `another up or down of this rehearsal is running (pid ${holder.pid})`);
  try {
    return await action();
  } finally {
    release();
  }
}

export async function up(options: RehearsalOptions, log: (line: string) => void = console.log): Promise<UpResult> {
  const reason = await netnsAvailable();
  if (reason !== null) throw new Error(reason);
  return exclusively(options.dir, () => upHoldingLock(options, log));
}

async function upHoldingLock(options: RehearsalOptions, log: (line: string) => void): Promise<UpResult> {
  const plan = loadPlan(options);
  const existing = readState(options.dir);
  if (isFullyUp(existing) && existing !== null) {
    log('the rehearsal is already up; nothing started');
    return { plan, state: existing, started: false };
  }
  if (existing !== null) {
    log('a previous rehearsal is partly up: stopping what is left of it first');
    await downHoldingLock(options, log);
  }
  const t0 = performance.now();
  const step = async <T>(what: string, action: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await action();
    log(`  ${what.padEnd(44)} ${((performance.now() - started) / 1000).toFixed(2)} s`);
    return result;
  };
  await step('system packages', () => ensureSystemPackages(log));
  const paths = pathsOf(plan);
  const wanDelay = await step('wan-delay (gcc)', () => buildWanDelay(paths.bin));
  rmSync(paths.run, { recursive: true, force: true });
  rmSync(paths.logs, { recursive: true, force: true });
  rmSync(withdrawnFile(options.dir), { force: true });
  mkdirSync(paths.run, { recursive: true });
  mkdirSync(paths.logs, { recursive: true });
  // Postgres runs as the postgres user: it must be able to pass through to its data directory.
  for (const passage of [options.dir, paths.run]) chmodSync(passage, statSync(passage).mode | 0o011);
  writeFileSync(planFile(options.dir), JSON.stringify(plan, null, 2) + '\n');
  const creds = credentialsOf(options.dir);
  const state = emptyState();
  writeState(options.dir, state);
  const remember = (record: ProcessRecord): ProcessRecord => {
    state.processes.push(record);
    writeState(options.dir, state);
    return record;
  };
  try {
    await step('namespaces, links, routes', () => createNetwork(plan, state));
    await step('WAN delay (NFQUEUE)', async () => {
      state.wanDelay = await startWanDelay(plan, wanDelay, paths, remember);
      writeState(options.dir, state);
    });
    await step(`postgres primary (${plan.home.name}), redis, s3`, () =>
      Promise.all([startPrimary(plan, paths, remember), ...plan.regions.flatMap((r) => [startRedis(r, paths, remember), startS3(r, paths, remember)])]),
    );
    await step('S3 replication between the regions', () => Promise.all(plan.regions.map((r) => startReplicator(plan, r, remember))));
    await step('streaming replicas (pg_basebackup -R)', () => Promise.all(plan.regions.map((r) => startReplica(plan, r, paths, remember))));
    await step('nodes', async () => {
      const [first, ...rest] = allNodes(plan);
      if (first !== undefined) remember(await startNode(plan, first, creds));
      await Promise.all(rest.map(async (node) => remember(await startNode(plan, node, creds))));
    });
    await step('GeoDNS (bind9 views) + health checks', () => startDns(plan, paths, remember));
    await step('replication streaming to every replica', () => waitForReplication(plan, 30_000));
    state.rtt = await step('RTT measurement (ping)', () => measureRtt(plan));
    state.ready = true;
    state.upMs = Math.round(performance.now() - t0);
    writeState(options.dir, state);
    log(`  ${'total'.padEnd(44)} ${(state.upMs / 1000).toFixed(2)} s`);
    return { plan, state, started: true };
  } catch (error) {
    log(`up failed: ${error instanceof Error ? error.message : String(error)}\nstopping what was started`);
    await downHoldingLock(options, () => undefined);
    throw error;
  }
}

export async function down(options: RehearsalOptions, log: (line: string) => void = console.log): Promise<boolean> {
  if (readState(options.dir) === null) {
    log('nothing to stop: no rehearsal state in ' + options.dir);
    return false;
  }
  return exclusively(options.dir, () => downHoldingLock(options, log));
}

async function downHoldingLock(options: RehearsalOptions, log: (line: string) => void): Promise<boolean> {
  const state = readState(options.dir);
  if (state === null) {
    log('nothing to stop: no rehearsal state in ' + options.dir);
    return false;
  }
  const orders = [...new Set(state.processes.map((p) => p.stopOrder))].sort((a, b) => a - b);
  let stopped = 0;
  for (const order of orders) {
    const group = state.processes.filter((p) => p.stopOrder === order && isRunning(p));
    await Promise.all(group.map((p) => stopProcess(p, p.name.startsWith('postgres') ? 20_000 : 8000)));
    stopped += group.length;
  }
  await deleteNetwork(state, log);
  rmSync(join(options.dir, 'run'), { recursive: true, force: true });
  rmSync(join(options.dir, 'health.json'), { force: true });
  rmSync(withdrawnFile(options.dir), { force: true });
  removeState(options.dir);
  log(`stopped ${stopped} process(es), deleted ${state.namespaces.length} namespace(s); logs kept in ${join(options.dir, 'logs')}`);
  return true;
}
