/**
 * @module Where one rehearsal lives: its options (defaults, overridable from the environment),
 * the plan they produce, the directories under `<dir>` every part of it writes to, and the order
 * its processes stop in. Every other rehearsal module takes its places from here, so `up`, the
 * drills' one-server operations and `down` agree on them.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REGIONS } from '../../regions/index.js';
import { readState, type ProcessRecord } from './state.js';
import { parseRttTable, planRehearsal, type RehearsalOptions, type RehearsalPlan } from './topology.js';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Default options; the environment can override (REHEARSAL_DIR, _PREFIX, _OCTET, _RTT, _BACKEND, _S3_LAG_MS). */
export function rehearsalOptions(overrides: Partial<RehearsalOptions> = {}, env: NodeJS.ProcessEnv = process.env): RehearsalOptions {
  const backend = overrides.backend ?? env['REHEARSAL_BACKEND'] ?? 's3';
  if (backend !== 'localfs' && backend !== 's3') throw new Error(`REHEARSAL_BACKEND: "${backend}" is not localfs or s3`);
  return {
    dir: resolve(overrides.dir ?? env['REHEARSAL_DIR'] ?? join(REPO_ROOT, 'data/rehearsal')),
    prefix: overrides.prefix ?? env['REHEARSAL_PREFIX'] ?? 'gcfs',
    octet: overrides.octet ?? Number(env['REHEARSAL_OCTET'] ?? 251),
    rttMs: overrides.rttMs ?? { 'eu-us': 40, 'ap-eu': 80, 'ap-us': 140, ...parseRttTable(env['REHEARSAL_RTT'] ?? '') },
    domain: overrides.domain ?? 'rehearsal.test',
    globalLabel: overrides.globalLabel ?? 'api',
    nodePort: overrides.nodePort ?? 8443,
    backend,
    s3ExtraLagMs: overrides.s3ExtraLagMs ?? Number(env['REHEARSAL_S3_LAG_MS'] ?? 0),
  };
}

export function loadPlan(options: RehearsalOptions): RehearsalPlan {
  return planRehearsal(REGIONS, options);
}

/** Stop order: the health checker first (it would re-signal named), then nodes, then what they use. */
export const STOP = { health: 0, node: 1, dns: 2, regionServices: 3, standby: 4, primary: 5, wan: 6 } as const;

export interface Paths {
  readonly run: string;
  readonly logs: string;
  readonly pg: string;
  readonly dns: string;
  readonly bin: string;
}

export function pathsOf(plan: RehearsalPlan): Paths {
  const dir = plan.options.dir;
  return { run: join(dir, 'run'), logs: join(dir, 'logs'), pg: join(dir, 'run', 'pg'), dns: join(dir, 'run', 'dns'), bin: join(dir, 'bin') };
}

/** Records a started process (in the state file, or in a list `up` keeps) and hands it back. */
export type Remember = (record: ProcessRecord) => ProcessRecord;

/** Throws unless the rehearsal's state file exists (an operation on one of its servers needs it up). */
export function requireUp(options: RehearsalOptions): void {
  if (readState(options.dir) === null) throw new Error('the rehearsal is not up');
}
