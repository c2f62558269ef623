/**
 * @module The local provider's half of a failover's fencing, through psql and redis-cli inside the
 * rehearsal's namespaces: a server fenced (read-only by default, its sessions ended, its epoch row
 * marked, and `standby.signal` left so it never restarts as a primary), the epoch row read and
 * written, and a Redis armed as the lock home of an epoch. Every statement and script comes from
 * app/fencing.
 */
import { existsSync } from 'node:fs';
import {
  armLockHomeCall,
  DEFAULT_LOCK_KEY_PREFIX,
  END_CLIENT_SESSIONS,
  epochRecordFromCells,
  evalArguments,
  inlineReadWriteTransaction,
  MARK_FENCED,
  READ_EPOCH_RECORD,
  RELOAD_CONFIGURATION,
  SET_READ_ONLY_DEFAULT,
  writeEpochStatement,
  type EpochRecord,
} from '../../../app/fencing/index.js';
import { pgDataDir, pgProcess, writePgFile } from '../../rehearsal/pg-servers.js';
import { DATABASE } from '../../rehearsal/topology.js';
import type { LocalRehearsal } from './rehearsal-access.js';

export async function fenceDatabase(rh: LocalRehearsal, region: string): Promise<'fenced' | 'unreachable'> {
  const server = rh.main(region);
  const dataDir = pgDataDir(rh.plan, server);
  if (pgProcess(rh.options, server) === null) {
    if (!existsSync(dataDir)) return 'unreachable';
    // Down: it must never come back as a primary by itself.
    writePgFile(rh.plan, server, 'standby.signal', '');
    return 'fenced';
  }
  const status = await rh.status(server);
  if (status.role === 'down') return 'unreachable';
  if (status.role === 'replica') return 'fenced';
  // Read-only first, for every new session; then the sessions opened before (some may be
  // committed and waiting for an unreachable synchronous standby, holding their row locks) are
  // ended; then the epoch row is marked, committed locally only, for the same reason. One psql
  // session does all of it.
  writePgFile(rh.plan, server, 'standby.signal', '');
  const statements = [
    SET_READ_ONLY_DEFAULT,
    RELOAD_CONFIGURATION,
    END_CLIENT_SESSIONS,
    `\\connect ${DATABASE}`,
    inlineReadWriteTransaction([MARK_FENCED], { synchronous_commit: 'local', lock_timeout: '2s' }),
  ];
  for (let attempt = 1; ; attempt++) {
    try {
      await rh.session(server, statements);
      return 'fenced';
    } catch (error) {
      if (attempt >= 5) throw error;
    }
  }
}

export async function readEpoch(rh: LocalRehearsal, region: string): Promise<EpochRecord> {
  const [row] = await rh.query(rh.main(region), READ_EPOCH_RECORD);
  if (row === undefined) throw new Error(`${region}: the epoch row is missing (the nodes' migrations have not run there)`);
  return epochRecordFromCells(row);
}

export async function writeEpoch(rh: LocalRehearsal, region: string, record: EpochRecord): Promise<string> {
  const server = rh.main(region);
  const host = `${server.target.ip}:${server.target.port}`;
  await rh.query(server, inlineReadWriteTransaction([writeEpochStatement(record, host)]));
  return `epoch ${record.epoch} on ${region} at ${host} (lock home ${record.lockHome ?? 'as configured'})`;
}

export async function armLockHome(rh: LocalRehearsal, region: string, epoch: number, fenceFloor: number): Promise<string> {
  const fence = await rh.redis(region, ['EVAL', ...evalArguments(armLockHomeCall(DEFAULT_LOCK_KEY_PREFIX, epoch, fenceFloor))]);
  return `${region} Redis armed: epoch ${epoch}, fence counter ${fence.replace(/"/g, '')}`;
}
