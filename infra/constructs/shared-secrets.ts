/**
 * @module SharedSecrets: the secrets every node of every region must agree on (API keys, the
 * internal proxy secret, the single-use link secret, the Redis AUTH token, the database
 * credentials). The secrets stack generates them in the founding region and Secrets Manager
 * replicates each to every other region under the same name; every region stack refers to its
 * local copy by that name. All are retained when their stack is deleted. Values never appear in a
 * template: ECS injects them into the container and ElastiCache reads its token through a
 * CloudFormation dynamic reference.
 */
import { RemovalPolicy, SecretValue } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { DATABASE_USER, SECRET_NAMES } from '../config/names.js';
import { acknowledge } from '../aspects/nag.js';

export type SharedSecretsProps =
  /** The secrets stack: create the secrets and replicate them to `replicaRegions`. */
  | { readonly mode: 'create'; readonly replicaRegions: readonly string[] }
  /** A region stack: use the copy of each secret in its own AWS region, by name. */
  | { readonly mode: 'replica' };

export class SharedSecrets extends Construct {
  /** Comma-separated API keys (CALLFS_AUTH__API_KEYS); add keys by editing the secret. */
  readonly apiKeys: secretsmanager.ISecret;
  readonly internalProxySecret: secretsmanager.ISecret;
  readonly singleUseLinkSecret: secretsmanager.ISecret;
  readonly lockCacheAuthToken: secretsmanager.ISecret;
  /** `{"username": "callfs", "password": ...}`: the Postgres master credentials. */
  readonly databaseCredentials: secretsmanager.ISecret;
  /** The database password as a dynamic reference, for the primary's MasterUserPassword. */
  readonly databasePasswordValue: SecretValue;
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
      const credentials = new secretsmanager.Secret(this, 'DatabaseCredentials', {
        secretName: SECRET_NAMES.databaseCredentials,
        description: 'geo-callfs Postgres master credentials (PGPASSWORD of every node)',
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ username: DATABASE_USER }),
          generateStringKey: 'password',
          passwordLength: 40,
          // Characters RDS refuses in a master password, and those a shell or URL would need escaped.
          excludeCharacters: ' %+~`#$&*()|[]{}:;<>?!\'/@"\\',
        },
        replicaRegions: props.replicaRegions.map((region) => ({ region })),
        removalPolicy: RemovalPolicy.RETAIN,
      });
      acknowledge(
        credentials,
        'SMG4',
        'every region\'s nodes receive the master password at task start from their replica of this secret; rotating it is a runbook step (rotate, then force a new deployment in every region), not a Lambda rotation that would leave running nodes with a stale password',
      );
      this.databaseCredentials = credentials;
    } else {
      const named = (childId: string, secretName: string): secretsmanager.ISecret => secretsmanager.Secret.fromSecretNameV2(this, childId, secretName);
      this.apiKeys = named('ApiKeys', SECRET_NAMES.apiKeys);
      this.internalProxySecret = named('InternalProxySecret', SECRET_NAMES.internalProxySecret);
      this.singleUseLinkSecret = named('SingleUseLinkSecret', SECRET_NAMES.singleUseLinkSecret);
      this.lockCacheAuthToken = named('LockCacheAuthToken', SECRET_NAMES.lockCacheAuthToken);
      this.lockCacheAuthTokenValue = SecretValue.secretsManager(SECRET_NAMES.lockCacheAuthToken);
      this.databaseCredentials = named('DatabaseCredentials', SECRET_NAMES.databaseCredentials);
    }
    this.databasePasswordValue = SecretValue.secretsManager(SECRET_NAMES.databaseCredentials, { jsonField: 'password' });
  }
}
