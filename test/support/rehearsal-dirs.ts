/**
 * @module Directories of the rehearsal test files: each run makes one under the system temp dir,
 * named by its prefix and marked with the process that made it, so a later run can take down
 * what a killed run left up (the namespaces and processes recorded in its rehearsal state).
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { down } from '../../scripts/rehearsal/lifecycle.js';
import { rehearsalOptions } from '../../scripts/rehearsal/paths.js';
import { isRunning, processStartTime } from '../../scripts/local-services/pid-lock.js';

/** A fresh directory owned by this process; Postgres (its own OS user) may pass through it. */
export function ownedTestDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o711);
  writeFileSync(join(dir, 'owner.json'), JSON.stringify({ pid: process.pid, startTime: processStartTime(process.pid) }));
  return dir;
}

/**
 * Takes down the rehearsal of every directory with `prefix` whose owner is gone (a run killed
 * before its afterAll), then deletes the directory. `rehearsalSubdir` is where, inside it, the
 * rehearsal kept its state.
 */
export async function downAbandonedRuns(prefix: string, rehearsalSubdir = ''): Promise<void> {
  for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith(prefix))) {
    const dir = join(tmpdir(), name);
    let owner: { pid: number; startTime: string } | null = null;
    try {
      owner = JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8')) as { pid: number; startTime: string };
    } catch {
      continue;
    }
    if (isRunning(owner)) continue;
    await down(rehearsalOptions({ dir: join(dir, rehearsalSubdir) }, {}), () => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
