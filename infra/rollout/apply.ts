/**
 * @module Applying a rollout plan: the recorded state (what was last rolled out), the progress
 * of a rollout in flight, and the runner that executes the steps' commands one after the other,
 * printing each with its time and result, stopping at the first failure and picking up from the
 * first unfinished step when run again with the same plan.
 *
 * Files, per stage, in `infra/state/` (commit `<stage>.json`: it is how the next rollout knows
 * what is deployed; it holds region files, no secrets):
 * - `<stage>.json`: `{ regions }` as of the last completed rollout.
 * - `<stage>.progress.json`: the plan being applied and the steps done; removed when it completes.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadRegions, type Region } from '../../regions/schema.js';
import { stepCommands, type DeployedState, type RolloutPlan } from './plan.js';

export interface StateFiles {
  readonly state: string;
  readonly progress: string;
}

export function stateFiles(directory: string, stage: string): StateFiles {
  return { state: join(directory, `${stage}.json`), progress: join(directory, `${stage}.progress.json`) };
}

function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.tmp`;
  writeFileSync(temp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(temp, path);
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The recorded state, validated like regions/ itself; undefined when nothing was rolled out. */
export function readState(files: StateFiles): DeployedState | undefined {
  const raw = readJson(files.state) as { regions?: unknown } | undefined;
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw.regions)) throw new Error(`${files.state}: expected { "regions": [...] }`);
  const regions = loadRegions(Object.fromEntries((raw.regions as Array<{ name?: unknown }>).map((r, i) => [`${typeof r.name === 'string' ? r.name : String(i)}.ts`, r])));
  return { regions };
}

export function writeState(files: StateFiles, regions: readonly Region[]): void {
  writeJson(files.state, { regions });
}

interface Progress {
  readonly planId: string;
  readonly done: number;
}

/** Identifies a plan by its steps and commands: resuming requires the very same plan. */
export function planId(plan: RolloutPlan, cdkArgs: readonly string[]): string {
  return createHash('sha256')
    .update(JSON.stringify(plan.steps.map((s) => stepCommands(s, cdkArgs))))
    .digest('hex')
    .slice(0, 16);
}

/** Runs one command; resolves its exit code. */
export type CommandRunner = (command: readonly string[]) => Promise<number>;

export interface ApplyOptions {
  readonly plan: RolloutPlan;
  readonly cdkArgs: readonly string[];
  readonly files: StateFiles;
  /** The regions to record as deployed once every step succeeded. */
  readonly target: readonly Region[];
  readonly run: CommandRunner;
  readonly log: (line: string) => void;
  readonly now?: () => number;
}

export interface ApplyResult {
  readonly ok: boolean;
  /** Steps completed, this run and earlier ones. */
  readonly done: number;
}

/**
 * Runs the plan's steps from the first one not done yet (per the progress file), stops at the
 * first failing command, and records the target state when the last step is done.
 */
export async function applyPlan(options: ApplyOptions): Promise<ApplyResult> {
  const { plan, files, log } = options;
  const now = options.now ?? Date.now;
  const id = planId(plan, options.cdkArgs);
  const saved = readJson(files.progress) as Progress | undefined;
  let done = 0;
  if (saved !== undefined) {
    if (saved.planId === id) {
      done = saved.done;
      if (done > 0) log(`resuming plan ${id}: steps 1-${done} are done`);
    } else {
      log(`a different rollout was in progress (plan ${saved.planId}, ${saved.done} steps done); starting this plan (${id}) from step 1`);
    }
  }
  for (let i = done; i < plan.steps.length; i++) {
    const step = plan.steps[i];
    if (step === undefined) break;
    log(`[${i + 1}/${plan.steps.length}] ${step.kind} ${step.stack} (${step.awsRegion})`);
    const started = now();
    for (const command of stepCommands(step, options.cdkArgs)) {
      log(`    $ ${command.join(' ')}`);
      const code = await options.run(command);
      if (code !== 0) {
        writeJson(files.progress, { planId: id, done: i } satisfies Progress);
        log(`[${i + 1}/${plan.steps.length}] FAILED (exit ${code}) after ${((now() - started) / 1000).toFixed(0)} s; fix the cause and run the same apply again: it resumes at this step`);
        return { ok: false, done: i };
      }
    }
    writeJson(files.progress, { planId: id, done: i + 1 } satisfies Progress);
    log(`[${i + 1}/${plan.steps.length}] done in ${((now() - started) / 1000).toFixed(0)} s`);
  }
  writeState(files, options.target);
  rmSync(files.progress, { force: true });
  log(`rollout complete: ${files.state} records ${options.target.map((r) => r.name).join(', ')}; commit it`);
  return { ok: true, done: plan.steps.length };
}
