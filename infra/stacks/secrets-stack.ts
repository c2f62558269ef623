/**
 * @module SecretsStack: the secrets every region shares, generated once in the founding region's
 * AWS region and replicated by Secrets Manager to every region of regions/. It is deployed first
 * in every rollout that adds a region (the new region's copies must exist before its stack reads
 * them) and last in one that removes a region. A home move does not touch it. Every secret is
 * retained when the stack is deleted.
 */
import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { rolloutOrder, type Region } from '../../regions/schema.js';
import { SECRETS_STACK_NAME } from '../config/names.js';
import { warnAboutPlaceholders, type DeploymentSettings } from '../config/settings.js';
import { SharedSecrets } from '../constructs/shared-secrets.js';

export interface SecretsStackProps extends StackProps {
  readonly regions: readonly Region[];
  readonly settings: DeploymentSettings;
}

export class SecretsStack extends Stack {
  readonly secrets: SharedSecrets;
  /** The AWS region holding the secrets' primaries. */
  readonly homeAwsRegion: string;

  constructor(scope: Construct, id: string, props: SecretsStackProps) {
    const { regions, settings } = props;
    const [founding] = rolloutOrder(regions);
    if (founding === undefined) throw new Error('secrets stack: no regions');
    super(scope, id, {
      ...props,
      stackName: SECRETS_STACK_NAME,
      env: { account: settings.account, region: founding.awsRegion },
      terminationProtection: settings.stage === 'production',
      description: `geo-callfs shared secrets (primaries in ${founding.awsRegion}, replicated to every region)`,
    });
    this.homeAwsRegion = founding.awsRegion;
    warnAboutPlaceholders(this, settings);
    const replicaRegions = [...new Set(regions.map((r) => r.awsRegion))].filter((code) => code !== founding.awsRegion);
    this.secrets = new SharedSecrets(this, 'SharedSecrets', { mode: 'create', replicaRegions });
  }
}
