/**
 * @module SharedSecrets: the secrets every node of every region must agree on (API keys, the
 * internal proxy secret, the single-use link secret, the Redis AUTH token). The home region
 * generates them and Secrets Manager replicates each to every other region under the same name;
 * the other regions refer to their local replica by that name. Values never appear in a
 * template: ECS injects them into the container and ElastiCache reads its token through a
 * CloudFormation dynamic reference.
 */
import { RemovalPolicy, SecretValue } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { SECRET_NAMES } from '../config/names.js';
import { acknowledge } from '../aspects/nag.js';

export type SharedSecretsProps =
  /** Home region: create the secrets and replicate them to `replicaRegions`. */
  | { readonly mode: 'create'; readonly replicaRegions: readonly string[] }
  /** Any other region: use the replicas the home region's stack made here. */
  | { readonly mode: 'replica' };

export class SharedSecrets extends Construct {
  /** Comma-separated API keys (CALLFS_AUTH__API_KEYS); add keys by editing the secret. */
  readonly apiKeys: secretsmanager.ISecret;
  readonly internalProxySecret: secretsmanager.ISecret;
  readonly singleUseLinkSecret: secretsmanager.ISecret;
  readonly lockCacheAuthToken: secretsmanager.ISecret;
  /** The Redis AUTH token as a dynamic reference, for ElastiCache's AuthToken. */
  readonly lockCacheAuthTokenValue: SecretValue;

  constructor(scope: Construct, id: string, props: SharedSecretsProps) {
    super(scope, id);
    if (props.mode === 'create') {
      const make = (childId: string, secretName: string, description: string): secretsmanager.Secret => {
        const secret = new secretsmanager.Secret(this, childId, {
          secretName,
          description,
          // Letters and digits only: the values travel in a comma-separated list, a Redis AUTH
          // token and HTTP headers, none of which should need escaping.
          generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
          replicaRegions: props.replicaRegions.map((region) => ({ region })),
          removalPolicy: RemovalPolicy.RETAIN,
        });
        acknowledge(
          secret,
          'SMG4',
          'shared by every node of every region and read once at task start: rotating it means a coordinated redeploy of all regions, done by hand (see infra/README.md), not a Lambda rotation',
        );
        return secret;
      };
      this.apiKeys = make('ApiKeys', SECRET_NAMES.apiKeys, 'geo-callfs API keys, comma-separated (auth.api_keys)');
      this.internalProxySecret = make('InternalProxySecret', SECRET_NAMES.internalProxySecret, 'geo-callfs secret that signs node-to-node requests (auth.internal_proxy_secret)');
      this.singleUseLinkSecret = make('SingleUseLinkSecret', SECRET_NAMES.singleUseLinkSecret, 'geo-callfs secret that signs single-use download links (auth.single_use_link_secret)');
      const token = make('LockCacheAuthToken', SECRET_NAMES.lockCacheAuthToken, 'geo-callfs Redis AUTH token (dlm.redis_password)');
      this.lockCacheAuthToken = token;
      this.lockCacheAuthTokenValue = token.secretValue;
    } else {
      const named = (childId: string, secretName: string): secretsmanager.ISecret => secretsmanager.Secret.fromSecretNameV2(this, childId, secretName);
      this.apiKeys = named('ApiKeys', SECRET_NAMES.apiKeys);
      this.internalProxySecret = named('InternalProxySecret', SECRET_NAMES.internalProxySecret);
      this.singleUseLinkSecret = named('SingleUseLinkSecret', SECRET_NAMES.singleUseLinkSecret);
      this.lockCacheAuthToken = named('LockCacheAuthToken', SECRET_NAMES.lockCacheAuthToken);
      this.lockCacheAuthTokenValue = SecretValue.secretsManager(SECRET_NAMES.lockCacheAuthToken);
    }
  }
}
