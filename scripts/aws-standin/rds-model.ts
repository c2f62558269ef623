/**
 * @module The stand-in's RDS model: what an instance, a parameter group and an event are, the
 * documented durations of each state change (compressed by the clock), ARNs, and what backs an
 * instance with a real Postgres in the tests (`RdsBacking`).
 */
import type { DurationRange } from './clock.js';

export const RDS_NAMESPACE = 'http://rds.amazonaws.com/doc/2014-10-31/';

/**
 * Documented durations (seconds). Promotion: "the promotion process takes a few minutes"
 * (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ReadRepl.Promote.html). Rename:
 * "The new DNS name for the renamed DB instance becomes effective in about 10 minutes. The renamed
 * DB instance is not available until the new name becomes effective"
 * (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_RenameInstance.html). A
 * cross-region replica starts from a snapshot copied across regions: tens of minutes for a small
 * database, hours for a large one
 * (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ReadRepl.XRgn.html). Reboot: a few
 * minutes (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_RebootInstance.html).
 */
export const RDS_DURATIONS = {
  promote: { min: 60, max: 300 },
  backupAfterPromote: { min: 60, max: 300 },
  rename: { min: 300, max: 600 },
  createCrossRegionReplica: { min: 1200, max: 3600 },
  modify: { min: 30, max: 120 },
  reboot: { min: 60, max: 240 } } satisfies Record<string, DurationRange>;

/** What a DB instance runs on. The stand-in without one gives fake endpoints. */
export interface RdsBacking {
  /** A new streaming replica of `source`'s server; resolves with where it listens. */
  createReplica(source: BackedInstance, replica: { region: string; identifier: string }): Promise<{ address: string; port: number; handle: unknown }>;
  /** Ends recovery on the instance's server; resolves once it accepts writes. */
  promote(instance: BackedInstance): Promise<void>;
}

export interface BackedInstance {
  readonly region: string;
  readonly identifier: string;
  readonly address: string;
  readonly port: number;
  readonly handle: unknown;
}

export interface DbInstance {
  identifier: string;
  readonly region: string;
  readonly account: string;
  status: string;
  /** ARN of the source (replicas only). */
  sourceArn: string | undefined;
  parameterGroup: { name: string; applyStatus: string };
  backupRetentionPeriod: number;
  tags: Array<{ Key: string; Value: string }>;
  address: string;
  port: number;
  handle: unknown;
  readonly engineVersion: string;
  readonly instanceClass: string;
  readonly multiAz: boolean;
  readonly storageType: string;
  readonly encrypted: boolean;
  readonly kmsKeyId: string | undefined;
  readonly subnetGroup: string;
  readonly securityGroups: string[];
  readonly caCertificate: string;
  /** Set while a rename is under way: the identifier stays taken until it completes. */
  renamingTo: string | undefined;
  readonly createdAt: number;
}

export interface ParameterGroup {
  readonly name: string;
  readonly region: string;
  readonly family: string;
  readonly parameters: Map<string, string>;
}

/** One RDS call as the stand-in saw it, for the tests' order checks. */
export interface RdsEvent {
  readonly at: number;
  readonly region: string;
  readonly action: string;
  readonly identifier: string;
  readonly detail: Record<string, string | undefined>;
}

export function instanceArn(region: string, account: string, identifier: string): string {
  return `arn:aws:rds:${region}:${account}:db:${identifier}`;
}

/** `arn:aws:rds:<region>:<account>:db:<id>` → region and id. */
export function parseArn(arn: string): { region: string; identifier: string } | null {
  const match = /^arn:[^:]+:rds:([^:]+):\d*:db:(.+)$/.exec(arn);
  return match === null ? null : { region: match[1] ?? '', identifier: match[2] ?? '' };
}
