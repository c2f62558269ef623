/**
 * @module The rehearsal's state file (`<dir>/state.json`): every namespace, host file and process
 * `up` created, written as each one is created, so that `down` can undo exactly that even after
 * an `up` that failed half-way. A process is recorded with its kernel start time
 * (local-services/pid-lock.ts), so a PID the system has since given to another program is never
 * signalled.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRunning, type ProcessIdentity } from '../local-services/pid-lock.js';

export interface ProcessRecord extends ProcessIdentity {
  /** What it is, e.g. `node eu-1`, `postgres us`, `named`. */
  readonly name: string;
  /** Namespace it runs in. */
  readonly ns: string;
  /** Signal for a clean stop (Postgres: SIGINT, its fast shutdown). */
  readonly stopSignal: NodeJS.Signals;
  /** Lower stops first. */
  readonly stopOrder: number;
  readonly log: string;
}

export interface RttMeasurement {
  readonly from: string;
  readonly to: string;
  readonly configuredMs: number;
  readonly measuredMs: number | null;
}

export interface RehearsalState {
  readonly version: 1;
  startedAt: string;
  /** Namespaces this rehearsal created, in creation order. */
  namespaces: string[];
  /** Directories under /etc/netns this rehearsal created (per-namespace resolv.conf). */
  etcNetnsDirs: string[];
  processes: ProcessRecord[];
  /** Set once everything is up. */
  ready: boolean;
  upMs: number | null;
  rtt: RttMeasurement[];
  /** How the WAN delay is produced: the NFQUEUE delayer. */
  wanDelay: string | null;
  /** Region pairs cut off from each other (`eu-us`), by `partition`; absent in older files. */
  partitions?: string[];
}

export function stateFile(dir: string): string {
  return join(dir, 'state.json');
}

export function readState(dir: string): RehearsalState | null {
  const file = stateFile(dir);
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, 'utf8')) as RehearsalState;
}

export function writeState(dir: string, state: RehearsalState): void {
  const file = stateFile(dir);
  writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2) + '\n');
  renameSync(`${file}.tmp`, file);
}

export function removeState(dir: string): void {
  rmSync(stateFile(dir), { force: true });
}

export function emptyState(): RehearsalState {
  return { version: 1, startedAt: new Date().toISOString(), namespaces: [], etcNetnsDirs: [], processes: [], ready: false, upMs: null, rtt: [], wanDelay: null };
}

/** The running process the state file records under `name`, or null. */
export function runningProcess(dir: string, name: string): ProcessRecord | null {
  return readState(dir)?.processes.find((p) => p.name === name && isRunning(p)) ?? null;
}

/**
 * Records a process started after `up` (a restart by a drill) in the state file, read afresh,
 * in place of any earlier record of the same name.
 */
export function recordProcess(dir: string, record: ProcessRecord): ProcessRecord {
  const state = readState(dir);
  if (state === null) throw new Error(`the rehearsal is not up (no state in ${dir})`);
  state.processes = [...state.processes.filter((p) => p.name !== record.name), record];
  writeState(dir, state);
  return record;
}

/**
 * Sends `record.stopSignal` to exactly that process and waits for it to end; after `graceMs`
 * it gets SIGKILL. Does nothing when the process is gone or the PID now belongs to another one.
 */
export async function stopProcess(record: ProcessRecord, graceMs: number): Promise<void> {
  if (!isRunning(record)) return;
  try {
    process.kill(record.pid, record.stopSignal);
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (isRunning(record) && Date.now() < deadline) await sleep(50);
  if (!isRunning(record)) return;
  try {
    process.kill(record.pid, 'SIGKILL');
  } catch {
    return;
  }
  const killDeadline = Date.now() + 5000;
  while (isRunning(record) && Date.now() < killDeadline) await sleep(50);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
