/**
 * @module The metadata databases of an AWS deployment as the drill drives them: RDS for
 * PostgreSQL instances named `databaseIdentifier(region)`, the primary in one region and
 * cross-region read replicas elsewhere (infra/constructs/metadata-database.ts). What each drill
 * operation sends, in order, is listed in ./provider.ts.
 *
 * Roles: an instance with `ReadReplicaSourceDBInstanceIdentifier` is a `replica` (its upstream
 * is the region whose identifier the source ARN names); one without is the `primary`, unless a
 * fence tagged it `geo-callfs:fenced` (then `fenced`); a missing instance, one whose API does not
 * answer, one in a status that serves nothing (creating, failed, stopped, ...) or a replica whose
 * replication is `terminated` is `down`. RDS publishes neither LSNs nor (outside CloudWatch, per
 * minute) the lag: `status` leaves them null and the provider reads them over SQL
 * (./replication-status-sql.ts).
 */
import {
  AddTagsToResourceCommand,
  CreateDBInstanceReadReplicaCommand,
  DescribeDBInstancesCommand,
  ModifyDBInstanceCommand,
  PromoteReadReplicaCommand,
  RebootDBInstanceCommand,
  type DBInstance,
} from '@aws-sdk/client-rds';
import type { Region } from '../../../regions/schema.js';
import { DATABASE_PORT, databaseIdentifier } from '../../../infra/config/names.js';
import type { DatabaseStatus } from '../provider.js';
import { describeError, isError, isUnreachable, type AwsCalls } from './aws-calls.js';

/** Tag a fence puts on the old primary, so `databases()` can tell it from the new one. */
export const FENCED_TAG = 'geo-callfs:fenced';

/** Statuses in which an instance serves connections. */
const SERVING = new Set([
  'available',
  'backing-up',
  'modifying',
  'maintenance',
  'upgrading',
  'renaming',
  'storage-optimization',
  'storage-config-upgrade',
  'configuring-enhanced-monitoring',
  'configuring-iam-database-auth',
  'configuring-log-exports',
  'resetting-master-credentials',
]);

export type Lookup = { readonly kind: 'instance'; readonly db: DBInstance } | { readonly kind: 'missing' } | { readonly kind: 'unreachable'; readonly reason: string };

export interface DatabaseTimings {
  /** Between two DescribeDBInstances while waiting (promotion, replica creation, rename). */
  readonly pollIntervalMs: number;
  /** How long a replica that is not promotable yet (InvalidDBInstanceState) is retried. */
  readonly promotableTimeoutMs: number;
  /** From PromoteReadReplica accepted to `available` without a source. */
  readonly promotionTimeoutMs: number;
  /** From CreateDBInstanceReadReplica to `available` (the initial copy is a cross-region snapshot). */
  readonly replicaTimeoutMs: number;
  /** Backoff between PromoteReadReplica attempts on a replica that is not promotable yet. */
  readonly notPromotableBackoffMs: number;
}

export const DEFAULT_DATABASE_TIMINGS: DatabaseTimings = {
  pollIntervalMs: 15_000,
  promotableTimeoutMs: 10 * 60_000,
  promotionTimeoutMs: 30 * 60_000,
  replicaTimeoutMs: 3 * 60 * 60_000,
  notPromotableBackoffMs: 10_000,
};

function sourceIdentifierOf(db: DBInstance): string | undefined {
  const source = db.ReadReplicaSourceDBInstanceIdentifier;
  return source === undefined || source === '' ? undefined : source;
}

function isFenced(db: DBInstance): boolean {
  return (db.TagList ?? []).some((t) => t.Key === FENCED_TAG);
}

function replicationTerminated(db: DBInstance): boolean {
  return (db.StatusInfos ?? []).some((s) => s.StatusType === 'read replication' && s.Status === 'terminated');
}

export function isServing(db: DBInstance): boolean {
  return SERVING.has(db.DBInstanceStatus ?? '') && !replicationTerminated(db);
}

export class RdsDatabases {
  constructor(
    private readonly aws: AwsCalls,
    private readonly regions: readonly Region[],
    private readonly timings: DatabaseTimings,
    private readonly backupRetentionDays: number,
  ) {}

  /** The region whose instance `source` (an identifier or an ARN) names. */
  regionOfSource(source: string): Region | undefined {
    const arn = /^arn:[^:]+:rds:([^:]+):\d*:db:(.+)$/.exec(source);
    const identifier = arn?.[2] ?? source;
    return this.regions.find((r) => databaseIdentifier(r) === identifier && (arn === null || arn[1] === r.awsRegion));
  }

  async lookup(region: Region, identifier = databaseIdentifier(region)): Promise<Lookup> {
    try {
      const out = await this.aws.call(`RDS DescribeDBInstances ${identifier}`, () => this.aws.rds(region.awsRegion).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier })));
      const db = out.DBInstances?.[0];
      return db === undefined ? { kind: 'missing' } : { kind: 'instance', db };
    } catch (error) {
      if (isError(error, 'DBInstanceNotFoundFault', 'DBInstanceNotFound')) return { kind: 'missing' };
      if (isUnreachable(error)) return { kind: 'unreachable', reason: describeError(error) };
      throw error;
    }
  }

  status(region: Region, found: Lookup): DatabaseStatus {
    const down: DatabaseStatus = { region: region.name, role: 'down', lsn: null, lagMs: null, upstream: null };
    if (found.kind !== 'instance' || !isServing(found.db)) return down;
    const source = sourceIdentifierOf(found.db);
    if (source !== undefined) return { region: region.name, role: 'replica', lsn: null, lagMs: null, upstream: this.regionOfSource(source)?.name ?? null };
    return { region: region.name, role: isFenced(found.db) ? 'fenced' : 'primary', lsn: null, lagMs: 0, upstream: null };
  }

  async databases(): Promise<DatabaseStatus[]> {
    return Promise.all(this.regions.map(async (r) => this.status(r, await this.lookup(r))));
  }

  /**
   * The control-plane mark of a fence: the `geo-callfs:fenced` tag, so `databases()` tells the
   * fenced former primary from the new one. What binds is in SQL (epoch row, write path revoked,
   * sessions ended: ./write-path-fence-sql.ts). Returns false when the instance is a replica (nothing to fence).
   */
  async tagFenced(region: Region, db: DBInstance): Promise<boolean> {
    if (sourceIdentifierOf(db) !== undefined) return false;
    if (!isFenced(db) && db.DBInstanceArn !== undefined) {
      const identifier = databaseIdentifier(region);
      await this.aws.call(`RDS AddTagsToResource ${identifier}`, () => this.aws.rds(region.awsRegion).send(new AddTagsToResourceCommand({ ResourceName: db.DBInstanceArn, Tags: [{ Key: FENCED_TAG, Value: new Date(this.aws.clock.now()).toISOString() }] })));
    }
    return true;
  }

  async promote(region: Region): Promise<string> {
    const identifier = databaseIdentifier(region);
    const found = await this.lookup(region);
    if (found.kind === 'missing') throw new Error(`promote ${identifier}: no such instance in ${region.awsRegion}`);
    if (found.kind === 'unreachable') throw new Error(`promote ${identifier}: the RDS API of ${region.awsRegion} does not answer (${found.reason})`);
    const db = found.db;
    if (sourceIdentifierOf(db) === undefined) {
      if (isFenced(db)) throw new Error(`promote ${identifier}: it is a fenced former primary, not a replica; rebuild it as a replica of the new primary (followPrimary) instead`);
      if (db.DBInstanceStatus === 'available') return `${region.name}: ${identifier} is already a writable primary`;
      // A promotion already under way (a resumed drill): wait for it.
    } else {
      const retention = (db.BackupRetentionPeriod ?? 0) > 0 ? (db.BackupRetentionPeriod ?? 0) : this.backupRetentionDays;
      const deadline = this.aws.clock.now() + this.timings.promotableTimeoutMs;
      for (let attempt = 1; ; attempt++) {
        try {
          await this.aws.call(`RDS PromoteReadReplica ${identifier}`, () => this.aws.rds(region.awsRegion).send(new PromoteReadReplicaCommand({ DBInstanceIdentifier: identifier, BackupRetentionPeriod: retention })));
          break;
        } catch (error) {
          if (!isError(error, 'InvalidDBInstanceStateFault', 'InvalidDBInstanceState')) throw error;
          const backoff = Math.min(this.timings.notPromotableBackoffMs * 2 ** (attempt - 1), 60_000);
          if (this.aws.clock.now() + backoff > deadline) {
            throw new Error(
              `promote ${identifier}: the replica is still not promotable after ${Math.round(this.timings.promotableTimeoutMs / 1000)} s and ${attempt} attempts (${describeError(error)}); wait for it to be available (not backing-up or modifying) and run the step again`,
              { cause: error },
            );
          }
          await this.aws.clock.sleep(backoff);
        }
      }
    }
    await this.aws.waitFor(
      `${identifier} to be promoted (available, no replication source)`,
      async () => {
        const now = await this.lookup(region);
        if (now.kind !== 'instance') return { done: false, state: now.kind };
        return { done: now.db.DBInstanceStatus === 'available' && sourceIdentifierOf(now.db) === undefined, state: `${now.db.DBInstanceStatus ?? '?'}${sourceIdentifierOf(now.db) === undefined ? '' : ', still a replica'}` };
      },
      this.timings.pollIntervalMs,
      this.timings.promotionTimeoutMs,
    );
    return `${region.name}: promoted ${identifier} to a writable primary`;
  }

  /**
   * Makes `region`'s instance a replica of `primaryRegion`'s. An RDS replica cannot be re-pointed,
   * so a new replica is built beside the old instance and swapped in under the original identifier
   * (its endpoint name, and the DSNs that name it, stay the same). The order keeps the region's
   * database until its replacement exists:
   *
   * 1. CreateDBInstanceReadReplica `<identifier>-next` from the primary's ARN (the SDK pre-signs
   *    the cross-region request), with the old instance's class, network and key but *no*
   *    parameter group: RDS refuses one on a cross-region PostgreSQL replica
   *    (InvalidParameterCombination) and gives it the engine's default group;
   * 2. wait until it is an available replica; ModifyDBInstance {DBParameterGroupName: the region's
   *    own group}, wait for `pending-reboot`, RebootDBInstance, wait for `in-sync`;
   * 3. only now rename the old instance aside (`<identifier>-old-<UTC stamp>`, kept for the audit
   *    of lost writes, deleted by a human) and wait until the identifier is free (the rename
   *    completes);
   * 4. rename `<identifier>-next` to `<identifier>` and wait until it is an available replica.
   *
   * Each stage is recognised from what exists, so a resumed drill continues where it stopped.
   */
  async follow(region: Region, primaryRegion: Region): Promise<string> {
    const identifier = databaseIdentifier(region);
    const nextIdentifier = `${identifier}-next`;
    const primaryIdentifier = databaseIdentifier(primaryRegion);
    if (region.name === primaryRegion.name) return `${region.name}: holds the primary, nothing to follow`;
    const primary = await this.lookup(primaryRegion);
    if (primary.kind !== 'instance' || sourceIdentifierOf(primary.db) !== undefined || primary.db.DBInstanceArn === undefined) {
      const why = primary.kind === 'instance' ? 'it is a replica' : primary.kind === 'unreachable' ? `the RDS API of ${primaryRegion.awsRegion} does not answer: ${primary.reason}` : primary.kind;
      throw new Error(`follow ${primaryRegion.name}: ${primaryIdentifier} is not a primary (${why})`);
    }
    const primaryArn = primary.db.DBInstanceArn;
    const rds = this.aws.rds(region.awsRegion);
    const current = await this.lookup(region);
    if (current.kind === 'unreachable') throw new Error(`follow ${identifier}: the RDS API of ${region.awsRegion} does not answer (${current.reason})`);
    if (current.kind === 'instance' && this.#replicatesFrom(current.db, primaryRegion)) {
      await this.waitUntilReplicaOf(region, primaryRegion);
      return `${region.name}: ${identifier} already replicates from ${primaryRegion.name}`;
    }

    const next = await this.lookup(region, nextIdentifier);
    if (next.kind === 'unreachable') throw new Error(`follow ${nextIdentifier}: the RDS API of ${region.awsRegion} does not answer (${next.reason})`);
    const template = current.kind === 'instance' ? current.db : next.kind === 'instance' ? next.db : await this.renamedAside(region);
    if (template === undefined) throw new Error(`follow ${identifier}: no instance in ${region.awsRegion} to take the network settings from (neither ${identifier}, ${nextIdentifier} nor ${identifier}-old-*)`);
    const group = (current.kind === 'instance' ? current.db : template).DBParameterGroups?.[0]?.DBParameterGroupName ?? this.regionParameterGroup(region);

    // 1. The replacement, before anything is renamed away (unless it is already being renamed into place).
    const nextRenaming = next.kind === 'instance' && next.db.DBInstanceStatus === 'renaming';
    if (next.kind === 'missing') {
      await this.aws.call(`RDS CreateDBInstanceReadReplica ${nextIdentifier}`, () => rds.send(new CreateDBInstanceReadReplicaCommand({
          DBInstanceIdentifier: nextIdentifier,
          SourceDBInstanceIdentifier: primaryArn,
          // No SourceRegion field in SDK v3: its RDS middleware reads the source region from the ARN and pre-signs the request.
          DBInstanceClass: template.DBInstanceClass,
          MultiAZ: template.MultiAZ,
          StorageType: template.StorageType,
          KmsKeyId: template.StorageEncrypted === true ? template.KmsKeyId : undefined,
          DBSubnetGroupName: template.DBSubnetGroup?.DBSubnetGroupName,
          VpcSecurityGroupIds: (template.VpcSecurityGroups ?? []).flatMap((g) => (g.VpcSecurityGroupId === undefined ? [] : [g.VpcSecurityGroupId])),
          Port: template.Endpoint?.Port ?? DATABASE_PORT,
          PubliclyAccessible: false,
          EnableCloudwatchLogsExports: template.EnabledCloudwatchLogsExports,
          CACertificateIdentifier: template.CACertificateIdentifier,
          AutoMinorVersionUpgrade: template.AutoMinorVersionUpgrade,
          DeletionProtection: template.DeletionProtection,
          CopyTagsToSnapshot: template.CopyTagsToSnapshot,
          Tags: (template.TagList ?? []).filter((t) => t.Key !== undefined && !t.Key.startsWith('aws:') && t.Key !== FENCED_TAG),
        })));
    }
    if (!nextRenaming) {
      await this.waitUntilReplicaOf(region, primaryRegion, nextIdentifier);
      // 2. The region's parameter group, once the replica exists.
      await this.applyParameterGroup(region, nextIdentifier, group);
    }

    // 3. The old instance aside, once its replacement is ready.
    if (current.kind === 'instance') {
      const aside = `${identifier}-old-${new Date(this.aws.clock.now()).toISOString().replace(/[-:]/g, '').replace('T', 't').slice(0, 15)}`;
      if (current.db.DBInstanceStatus !== 'renaming') {
        await this.aws.call(`RDS ModifyDBInstance ${identifier} → ${aside}`, () => rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: identifier, NewDBInstanceIdentifier: aside, ApplyImmediately: true })));
      }
      await this.aws.waitFor(
        `${identifier} to be renamed aside (the identifier is free only once the rename completes)`,
        async () => {
          const now = await this.lookup(region);
          return { done: now.kind === 'missing', state: now.kind === 'instance' ? (now.db.DBInstanceStatus ?? '?') : now.kind };
        },
        this.timings.pollIntervalMs,
        this.timings.promotionTimeoutMs,
      );
    }

    // 4. The replacement under the region's identifier.
    const pending = await this.lookup(region, nextIdentifier);
    if (pending.kind === 'instance' && pending.db.DBInstanceStatus !== 'renaming') {
      await this.aws.call(`RDS ModifyDBInstance ${nextIdentifier} → ${identifier}`, () => rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: nextIdentifier, NewDBInstanceIdentifier: identifier, ApplyImmediately: true })));
    }
    await this.waitUntilReplicaOf(region, primaryRegion);
    return `${region.name}: rebuilt ${identifier} as a replica of ${primaryIdentifier} (${primaryRegion.name}) with parameter group ${group}${current.kind === 'instance' ? '; the old instance was renamed aside, delete it after the audit' : ''}`;
  }

  /** The custom parameter group infra gives a region's database. */
  regionParameterGroup(region: Region): string {
    return `${databaseIdentifier(region)}-params`;
  }

  #replicatesFrom(db: DBInstance, primaryRegion: Region): boolean {
    const source = sourceIdentifierOf(db);
    return source !== undefined && this.regionOfSource(source)?.name === primaryRegion.name;
  }

  /**
   * Associates `group` with the instance and reboots it so the group takes effect ("When you
   * associate a new DB parameter group with a DB instance, the modified static and dynamic
   * parameters are applied only after the DB instance is rebooted").
   */
  private async applyParameterGroup(region: Region, identifier: string, group: string): Promise<void> {
    const rds = this.aws.rds(region.awsRegion);
    const read = async (): Promise<{ status: string; group: string; apply: string }> => {
      const now = await this.lookup(region, identifier);
      if (now.kind !== 'instance') return { status: now.kind, group: '', apply: '' };
      const g = now.db.DBParameterGroups?.[0];
      return { status: now.db.DBInstanceStatus ?? '?', group: g?.DBParameterGroupName ?? '', apply: g?.ParameterApplyStatus ?? '' };
    };
    let state = await read();
    if (state.group === group && state.apply === 'in-sync') return;
    if (state.group !== group) {
      await this.aws.call(`RDS ModifyDBInstance ${identifier} {DBParameterGroupName: ${group}}`, () => rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: identifier, DBParameterGroupName: group, ApplyImmediately: true })));
    }
    await this.aws.waitFor(
      `${identifier} to take parameter group ${group} (pending-reboot)`,
      async () => {
        state = await read();
        return { done: state.status === 'available' && state.group === group && (state.apply === 'pending-reboot' || state.apply === 'in-sync'), state: `${state.status}, ${state.group} ${state.apply}` };
      },
      this.timings.pollIntervalMs,
      this.timings.promotionTimeoutMs,
    );
    if (state.apply === 'pending-reboot') {
      await this.aws.call(`RDS RebootDBInstance ${identifier}`, () => rds.send(new RebootDBInstanceCommand({ DBInstanceIdentifier: identifier })));
      await this.aws.waitFor(
        `${identifier} to reboot with ${group} in sync`,
        async () => {
          state = await read();
          return { done: state.status === 'available' && state.apply === 'in-sync', state: `${state.status}, ${state.group} ${state.apply}` };
        },
        this.timings.pollIntervalMs,
        this.timings.promotionTimeoutMs,
      );
    }
  }

  private async waitUntilReplicaOf(region: Region, primaryRegion: Region, identifier = databaseIdentifier(region)): Promise<void> {
    await this.aws.waitFor(
      `${identifier} to be an available replica of ${databaseIdentifier(primaryRegion)}`,
      async () => {
        const now = await this.lookup(region, identifier);
        if (now.kind !== 'instance') return { done: false, state: now.kind };
        const source = sourceIdentifierOf(now.db);
        return { done: now.db.DBInstanceStatus === 'available' && source !== undefined && this.regionOfSource(source)?.name === primaryRegion.name, state: now.db.DBInstanceStatus ?? '?' };
      },
      this.timings.pollIntervalMs,
      this.timings.replicaTimeoutMs,
    );
  }

  /** The newest `<identifier>-old-*` instance of the region (a rename of an earlier, interrupted run). */
  private async renamedAside(region: Region): Promise<DBInstance | undefined> {
    const prefix = `${databaseIdentifier(region)}-old-`;
    const found: DBInstance[] = [];
    let marker: string | undefined;
    do {
      const out = await this.aws.call(`RDS DescribeDBInstances (${region.awsRegion})`, () => this.aws.rds(region.awsRegion).send(new DescribeDBInstancesCommand({ Marker: marker })));
      found.push(...(out.DBInstances ?? []).filter((d) => d.DBInstanceIdentifier?.startsWith(prefix) === true));
      marker = out.Marker;
    } while (marker !== undefined && marker !== '');
    return found.sort((a, b) => ((a.DBInstanceIdentifier ?? '') < (b.DBInstanceIdentifier ?? '') ? 1 : -1))[0];
  }
}
