/**
 * @module The rehearsal's health checks, the part Route 53 health checks play in AWS: from the
 * router namespace, poll every node's health-check path (the region's `healthCheckPath`) every
 * half second; a node is down after two failed checks in a row and up again after one good one.
 * Whenever that changes what a view of the GeoDNS answers, rewrite the zones and have named reload
 * them (SIGHUP to the named process `up` recorded). Each round is also written to
 * `<dir>/health.json`, which `status` shows.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { globalAnswer, viewNames, zoneFile, zoneText, type NodeHealth } from './dns.js';
import { readState, sleep } from './state.js';
import { isRunning } from '../local-services/pid-lock.js';
import { allNodes, type RehearsalPlan } from './topology.js';

export const CHECK_INTERVAL_MS = 500;
const CHECK_TIMEOUT_MS = 1000;
const FAILURES_TO_DOWN = 2;

export interface NodeCheck {
  readonly up: boolean;
  readonly lastStatus: number | null;
  readonly lastError: string | null;
  readonly latencyMs: number | null;
  readonly consecutiveFailures: number;
}

export interface HealthReport {
  readonly at: string;
  readonly nodes: Readonly<Record<string, NodeCheck>>;
  /** region → whether at least one of its nodes is up. */
  readonly regions: Readonly<Record<string, boolean>>;
  /** view → the region the global name answers there. */
  readonly globalAnswers: Readonly<Record<string, string>>;
  /** Regions a drill has taken out of the global name; absent in older reports. */
  readonly withdrawn?: readonly string[];
  readonly zoneReloads: number;
}

export function planFile(dir: string): string {
  return join(dir, 'plan.json');
}

export function healthFile(dir: string): string {
  return join(dir, 'health.json');
}

export function readHealth(dir: string): HealthReport | null {
  try {
    return JSON.parse(readFileSync(healthFile(dir), 'utf8')) as HealthReport;
  } catch {
    return null;
  }
}

function writeAtomically(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/**
 * Regions a drill has taken out of the global name (`<dir>/withdrawn.json`, a JSON array of
 * region names). Read every round, so a withdrawal shows within one check interval.
 */
export function withdrawnFile(dir: string): string {
  return join(dir, 'withdrawn.json');
}

export function readWithdrawn(dir: string): Set<string> {
  try {
    const names: unknown = JSON.parse(readFileSync(withdrawnFile(dir), 'utf8'));
    return new Set(Array.isArray(names) ? names.filter((n): n is string => typeof n === 'string') : []);
  } catch {
    return new Set();
  }
}

export function writeWithdrawn(dir: string, regions: ReadonlySet<string>): void {
  writeAtomically(withdrawnFile(dir), JSON.stringify([...regions].sort()) + '\n');
}

/** Writes every view's zone file for `health`. */
export function writeZones(plan: RehearsalPlan, dnsDir: string, health: NodeHealth, serial: number, withdrawn: ReadonlySet<string> = new Set()): void {
  for (const region of [...plan.regions.map((r) => r.name), undefined]) {
    const view = region ?? 'outside';
    writeAtomically(zoneFile(dnsDir, view), zoneText(plan, region, health, serial, withdrawn));
  }
}

async function checkNode(url: string): Promise<{ ok: boolean; status: number | null; error: string | null; ms: number }> {
  const started = performance.now();
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(CHECK_TIMEOUT_MS) });
    await response.arrayBuffer();
    return { ok: response.status === 200, status: response.status, error: response.status === 200 ? null : `HTTP ${response.status}`, ms: performance.now() - started };
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : error instanceof Error ? error.message : String(error);
    return { ok: false, status: null, error: cause, ms: performance.now() - started };
  }
}

/** Runs until SIGTERM. `dnsDir` holds the zones named serves. */
export async function runHealthChecker(dir: string, dnsDir: string): Promise<void> {
  const plan = JSON.parse(readFileSync(planFile(dir), 'utf8')) as RehearsalPlan;
  const nodes = allNodes(plan);
  const regionOf = new Map(nodes.map((n) => [n.id, plan.regions.find((r) => r.name === n.region)]));
  const checks = new Map<string, NodeCheck>(nodes.map((n) => [n.id, { up: true, lastStatus: null, lastError: null, latencyMs: null, consecutiveFailures: 0 }]));
  let stopping = false;
  process.on('SIGTERM', () => (stopping = true));
  process.on('SIGINT', () => (stopping = true));
  let serial = Math.floor(Date.now() / 1000);
  let reloads = 0;
  let published = '';
  while (!stopping) {
    const round = performance.now();
    await Promise.all(
      nodes.map(async (node) => {
        const result = await checkNode(`${node.url}${regionOf.get(node.id)?.healthCheckPath ?? '/health'}`);
        const before = checks.get(node.id);
        const failures = result.ok ? 0 : (before?.consecutiveFailures ?? 0) + 1;
        checks.set(node.id, {
          up: result.ok ? true : failures < FAILURES_TO_DOWN && (before?.up ?? false),
          lastStatus: result.status,
          lastError: result.error,
          latencyMs: Math.round(result.ms * 10) / 10,
          consecutiveFailures: failures,
        });
      }),
    );
    const health: NodeHealth = Object.fromEntries([...checks].map(([id, c]) => [id, c.up]));
    const withdrawn = readWithdrawn(dir);
    const answers = Object.fromEntries(viewNames(plan).map((view) => [view, globalAnswer(plan, view === 'outside' ? undefined : view, health, withdrawn)]));
    const fingerprint = JSON.stringify({ health, answers, withdrawn: [...withdrawn].sort() });
    if (fingerprint !== published) {
      writeZones(plan, dnsDir, health, ++serial, withdrawn);
      const named = readState(dir)?.processes.find((p) => p.name === 'named');
      if (named !== undefined && isRunning(named)) {
        process.kill(named.pid, 'SIGHUP');
        reloads++;
      }
      published = fingerprint;
    }
    const report: HealthReport = {
      at: new Date().toISOString(),
      nodes: Object.fromEntries(checks),
      regions: Object.fromEntries(plan.regions.map((r) => [r.name, r.nodes.some((n) => checks.get(n.id)?.up === true)])),
      globalAnswers: Object.fromEntries(Object.entries(answers).map(([view, answer]) => [view, answer.region])),
      withdrawn: [...withdrawn].sort(),
      zoneReloads: reloads,
    };
    writeAtomically(healthFile(dir), JSON.stringify(report, null, 2) + '\n');
    await sleep(Math.max(0, CHECK_INTERVAL_MS - (performance.now() - round)));
  }
}
