/**
 * @module The deployment settings that are not per region: AWS account, stage, the Route 53
 * zone, the container image and the S3 replication switch. `settingsFromContext` turns CDK
 * context (`-c key=value` or cdk.json) into validated settings; main.ts is the only caller
 * that passes the real context, tests build settings directly.
 */
import { Annotations, type Stack } from 'aws-cdk-lib';

/** Used when neither `-c account=` nor CDK_DEFAULT_ACCOUNT is set, so synth works offline. */
export const PLACEHOLDER_ACCOUNT = '111111111111';
/** Used when `-c hostedZoneId=` is not set; deploying with it fails at the first DNS record. */
export const PLACEHOLDER_HOSTED_ZONE_ID = 'Z0PLACEHOLDER000000000';
export const PLACEHOLDER_ZONE_NAME = 'example.com';

/** Every stage the app knows; the tests synthesize each one. */
export const STAGES = ['production', 'staging'] as const;
export type Stage = (typeof STAGES)[number];

export interface DnsSettings {
  /** Id of the existing public hosted zone (e.g. Z0123456789ABCDEFGHIJ). */
  readonly hostedZoneId: string;
  /** The zone's domain, e.g. example.com. */
  readonly zoneName: string;
  /** The name users call, inside the zone, e.g. files.example.com; regions get `<name>.<globalHostname>`. */
  readonly globalHostname: string;
}

export type ImageSource =
  /**
   * Built by the CDK CLI from the repository's Dockerfile at deploy time (never at synth).
   * `rdsCaBundleSha256`: SHA-256 of the RDS CA bundle the build downloads and verifies.
   */
  | { readonly kind: 'dockerfile'; readonly directory: string; readonly rdsCaBundleSha256?: string }
  /** An image already pushed somewhere ECS can pull from. */
  | { readonly kind: 'uri'; readonly uri: string };

export interface DeploymentSettings {
  readonly account: string;
  /** `production` turns on deletion and termination protection and keeps logs longer. */
  readonly stage: Stage;
  readonly dns: DnsSettings;
  readonly image: ImageSource;
  /**
   * Regions whose stack is not deployed yet (context `pendingRegions=ap,us`): S3 refuses a
   * replication rule whose destination bucket does not exist, so a stack deployed before them
   * leaves out its rules to their buckets, and the rollout planner deploys it again afterwards.
   * Everything else about those regions is unaffected. Empty in normal operation.
   */
  readonly pendingRegions: readonly string[];
  /** Which settings fell back to placeholders (reported as synth warnings). */
  readonly placeholders: readonly string[];
}

function text(value: unknown, key: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new Error(`context ${key}: must be a string, got ${JSON.stringify(value)}`);
  return value;
}

/**
 * Reads the settings from CDK context. `context(key)` returns the value of `-c key=...` or of
 * cdk.json; `env` supplies CDK_DEFAULT_ACCOUNT. Errors name the context key.
 */
export function settingsFromContext(
  context: (key: string) => unknown,
  env: Readonly<Record<string, string | undefined>>,
  repositoryRoot: string,
): DeploymentSettings {
  const placeholders: string[] = [];
  let account = text(context('account'), 'account') ?? env.CDK_DEFAULT_ACCOUNT;
  if (account === undefined || account === '') {
    account = PLACEHOLDER_ACCOUNT;
    placeholders.push('account');
  }
  if (!/^\d{12}$/.test(account)) throw new Error(`context account: must be a 12-digit AWS account id, got "${account}"`);

  const stage = text(context('stage'), 'stage') ?? 'production';
  if (!(STAGES as readonly string[]).includes(stage)) throw new Error(`context stage: must be production or staging, got "${stage}"`);

  let hostedZoneId = text(context('hostedZoneId'), 'hostedZoneId');
  if (hostedZoneId === undefined) {
    hostedZoneId = PLACEHOLDER_HOSTED_ZONE_ID;
    placeholders.push('hostedZoneId');
  }
  if (!/^Z[A-Z0-9]{1,31}$/.test(hostedZoneId)) throw new Error(`context hostedZoneId: must be a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ, got "${hostedZoneId}"`);
  let zoneName = text(context('zoneName'), 'zoneName');
  if (zoneName === undefined) {
    zoneName = PLACEHOLDER_ZONE_NAME;
    placeholders.push('zoneName');
  }
  const hostname = /^(?=.{1,200}$)([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/;
  if (!hostname.test(zoneName)) throw new Error(`context zoneName: must be a lower-case domain such as example.com, got "${zoneName}"`);
  const globalHostname = text(context('globalHostname'), 'globalHostname') ?? `files.${zoneName}`;
  if (!hostname.test(globalHostname) || !(globalHostname === zoneName || globalHostname.endsWith(`.${zoneName}`))) {
    throw new Error(`context globalHostname: must be ${zoneName} or a name inside it, got "${globalHostname}"`);
  }

  const imageUri = text(context('imageUri'), 'imageUri');
  const rdsCaBundleSha256 = text(context('rdsCaBundleSha256'), 'rdsCaBundleSha256');
  if (rdsCaBundleSha256 !== undefined && !/^[0-9a-f]{64}$/.test(rdsCaBundleSha256)) throw new Error(`context rdsCaBundleSha256: must be 64 lower-case hex digits (sha256sum of the RDS CA bundle), got "${rdsCaBundleSha256}"`);
  if (imageUri === undefined && rdsCaBundleSha256 === undefined) placeholders.push('rdsCaBundleSha256');
  const image: ImageSource =
    imageUri === undefined ? { kind: 'dockerfile', directory: repositoryRoot, ...(rdsCaBundleSha256 === undefined ? {} : { rdsCaBundleSha256 }) } : { kind: 'uri', uri: imageUri };

  const pending = text(context('pendingRegions'), 'pendingRegions') ?? '';
  const pendingRegions = pending.split(',').map((name) => name.trim()).filter((name) => name !== '');
  for (const name of pendingRegions) {
    if (!/^[a-z][a-z0-9-]{0,19}$/.test(name)) throw new Error(`context pendingRegions: must be a comma-separated list of region names, got "${pending}"`);
  }

  return { account, stage: stage as Stage, dns: { hostedZoneId, zoneName, globalHostname }, image, pendingRegions, placeholders };
}

/** One synth warning per stack naming the settings that are placeholders (fine for synth, not for deploy). */
export function warnAboutPlaceholders(stack: Stack, settings: DeploymentSettings): void {
  if (settings.placeholders.length === 0) return;
  const flags = settings.placeholders.map((key) => `-c ${key}=...`).join(' ');
  Annotations.of(stack).addWarningV2('geo-callfs:placeholders', `context ${settings.placeholders.join(', ')} not set: placeholders are used, fine for synth but not for deploy (pass ${flags})`);
}
