/**
 * @module Runs a drill: plan → print → confirm → act → verify. The plan is printed first; a dry
 * run (the default) stops there; otherwise the operator confirms (unless `--yes`) and the steps
 * run one by one with their timings. The run's progress is saved after every step
 * (`<dir>/runs/<runId>.json`: the steps done, what they returned, and the values they chose such
 * as the new epoch), so a drill that failed or was interrupted is resumed from the first step not
 * done, with the plan it was started with. Only one drill acts at a time (`<dir>/active.json`).
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { isRunning, ownIdentity, takePidLock } from '../local-services/pid-lock.js';
import type { DrillProvider, Topology } from './provider.js';

/** Values steps share and keep across a resume (JSON-serialisable). */
export type Memo = Record<string, unknown>;

export interface StepContext {
  readonly provider: DrillProvider;
  readonly memo: Memo;
  readonly log: (line: string) => void;
}

export interface DrillStep {
  /** Stable id, e.g. `fence-db`: progress files name steps by it. */
  readonly id: string;
  /** What the step does, in the printed plan. */
  readonly title: string;
  /** Runs the step; returns a short result line. Must be safe to run again after an interruption. */
  run(ctx: StepContext): Promise<string>;
}

export interface DrillPlan {
  readonly drill: string;
  readonly target: string | null;
  /** Lines printed above the steps: what the drill will do to which regions. */
  readonly summary: readonly string[];
  readonly steps: readonly DrillStep[];
  /** Region withdrawn from traffic by the drill (its traffic share should go to 0). */
  readonly withdrawnRegion: string | null;
  /** Region cut off by the drill without a failover (home-outage): the scorecard judges the others' reads. */
  readonly outageRegion?: string | null;
}

export interface StepRecord {
  readonly id: string;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly ok: boolean;
  readonly result: string;
}

export interface RunProgress {
  readonly runId: string;
  readonly drill: string;
  readonly target: string | null;
  readonly provider: string;
  /** The options the drill was planned with (to plan it again identically on resume). */
  readonly options: Readonly<Record<string, unknown>>;
  /** The deployment as it was when the drill was planned. */
  readonly topology: Topology;
  readonly createdAt: string;
  status: 'running' | 'failed' | 'done';
  steps: StepRecord[];
  memo: Memo;
  error: string | null;
  /** Process acting on the run, so a resume refuses while it is alive. */
  owner: { pid: number; startTime: string } | null;
}

export interface RunnerOptions {
  /** Holds `runs/` and `active.json`. */
  readonly dir: string;
  readonly log: (line: string) => void;
  /** Ask before acting (false with `--yes`). */
  readonly confirm: boolean;
  /** Print the plan only. */
  readonly dryRun: boolean;
  /** Called before the first step runs (start load) and after the last one (stop it, score). */
  readonly beforeSteps?: () => Promise<void>;
}

export function runsDir(dir: string): string {
  return join(dir, 'runs');
}

function progressFile(dir: string, runId: string): string {
  return join(runsDir(dir), `${runId}.json`);
}

export function saveProgress(dir: string, progress: RunProgress): void {
  mkdirSync(runsDir(dir), { recursive: true });
  const file = progressFile(dir, progress.runId);
  writeFileSync(`${file}.tmp`, JSON.stringify(progress, null, 2) + '\n');
  renameSync(`${file}.tmp`, file);
}

export function readProgress(dir: string, runId: string): RunProgress {
  try {
    return JSON.parse(readFileSync(progressFile(dir, runId), 'utf8')) as RunProgress;
  } catch {
    throw new Error(`no drill run "${runId}" in ${runsDir(dir)}`);
  }
}

/** The most recent run that did not finish, or null. */
export function lastUnfinishedRun(dir: string): RunProgress | null {
  let names: string[];
  try {
    names = readdirSync(runsDir(dir)).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return null;
  }
  for (const name of names.reverse()) {
    const progress = readProgress(dir, name.slice(0, -'.json'.length));
    if (progress.status !== 'done') return progress;
  }
  return null;
}

export function newRunId(drill: string, now = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${drill}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

export function printPlan(plan: DrillPlan, provider: string, log: (line: string) => void, done: ReadonlySet<string> = new Set()): void {
  log(`drill ${plan.drill}${plan.target === null ? '' : ` ${plan.target}`} (provider ${provider})`);
  for (const line of plan.summary) log(`  ${line}`);
  log('steps:');
  plan.steps.forEach((step, i) => log(`  ${String(i + 1).padStart(2)}. ${done.has(step.id) ? '[done] ' : ''}${step.id.padEnd(18)} ${step.title}`));
}

/** Takes the one-drill-at-a-time lock; a holder that is no longer running is taken over. */
function takeActiveLock(dir: string, runId: string): () => void {
  mkdirSync(dir, { recursive: true });
  return takePidLock(join(dir, 'active.json'), { runId }, (holder) => `drill ${holder.runId} is running (pid ${holder.pid}); one drill at a time`);
}

async function askToProceed(log: (line: string) => void): Promise<boolean> {
  if (!process.stdin.isTTY) {
    log('not confirmed: stdin is not a terminal; run again with --yes to act without a prompt');
    return false;
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await rl.question('Proceed? Type "yes" to run these steps: ');
    return answer.trim().toLowerCase() === 'yes';
  } finally {
    rl.close();
  }
}

export type RunOutcome = { readonly kind: 'dry-run' } | { readonly kind: 'declined' } | { readonly kind: 'done'; readonly progress: RunProgress } | { readonly kind: 'failed'; readonly progress: RunProgress };

/**
 * Runs `plan` for `progress` (a new run, or one being resumed: its finished steps are skipped).
 * Never throws for a failing step: the outcome says so, with the progress saved for a resume.
 */
export async function runDrill(plan: DrillPlan, provider: DrillProvider, progress: RunProgress, options: RunnerOptions): Promise<RunOutcome> {
  const { log } = options;
  const done = new Set(progress.steps.filter((s) => s.ok).map((s) => s.id));
  printPlan(plan, provider.name, log, done);
  if (options.dryRun) {
    log('dry run: nothing was changed. Run again with --yes (or --execute to be asked) to act.');
    return { kind: 'dry-run' };
  }
  if (options.confirm && !(await askToProceed(log))) return { kind: 'declined' };
  const release = takeActiveLock(options.dir, progress.runId);
  try {
    if (progress.owner !== null && progress.owner.pid !== process.pid && isRunning(progress.owner)) throw new Error(`run ${progress.runId} is being acted on by pid ${progress.owner.pid}`);
    progress.owner = ownIdentity();
    progress.status = 'running';
    progress.error = null;
    saveProgress(options.dir, progress);
    await options.beforeSteps?.();
    const ctx: StepContext = { provider, memo: progress.memo, log };
    const total = plan.steps.length;
    for (const [i, step] of plan.steps.entries()) {
      if (done.has(step.id)) continue;
      const startedAt = Date.now();
      const label = `[${String(i + 1).padStart(2)}/${total}] ${step.id.padEnd(18)}`;
      try {
        const result = await step.run(ctx);
        const endedAt = Date.now();
        progress.steps = [...progress.steps.filter((s) => s.id !== step.id), { id: step.id, startedAt, endedAt, ok: true, result }];
        saveProgress(options.dir, progress);
        log(`${label} ${seconds(endedAt - startedAt).padStart(9)}  ${result}`);
      } catch (error) {
        const endedAt = Date.now();
        const message = error instanceof Error ? error.message : String(error);
        progress.steps = [...progress.steps.filter((s) => s.id !== step.id), { id: step.id, startedAt, endedAt, ok: false, result: message }];
        progress.status = 'failed';
        progress.error = `step ${step.id} failed: ${message}`;
        progress.owner = null;
        saveProgress(options.dir, progress);
        log(`${label} ${seconds(endedAt - startedAt).padStart(9)}  FAILED: ${message}`);
        log(`the drill stopped at step ${i + 1} of ${total} (${step.id}); the steps before it are done and recorded.`);
        log(`fix the cause, then resume with: npm run drill -- resume ${progress.runId} --yes`);
        return { kind: 'failed', progress };
      }
    }
    progress.status = 'done';
    progress.owner = null;
    saveProgress(options.dir, progress);
    return { kind: 'done', progress };
  } finally {
    release();
  }
}
