import { Template, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { SharedSecrets } from '../../infra/constructs/shared-secrets.js';
import { bareStack } from './support.js';

describe('SharedSecrets', () => {
  const created = bareStack();
  new SharedSecrets(created.stack, 'Secrets', { mode: 'create', replicaRegions: ['us-east-1', 'ap-southeast-1'] });
  const t = Template.fromStack(created.stack);

  it('in the secrets stack: generates each secret, replicates it to every other region and keeps it when the stack goes', () => {
    t.resourceCountIs('AWS::SecretsManager::Secret', 5);
    for (const [id, secret] of Object.entries(t.findResources('AWS::SecretsManager::Secret'))) {
      expect([id, secret.DeletionPolicy, secret.UpdateReplacePolicy]).toEqual([id, 'Retain', 'Retain']);
    }
    t.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'geo-callfs/metadata-db',
      ReplicaRegions: [{ Region: 'us-east-1' }, { Region: 'ap-southeast-1' }],
      GenerateSecretString: Match.objectLike({ GenerateStringKey: 'password', SecretStringTemplate: '{"username":"callfs"}' }),
    });
    for (const name of ['geo-callfs/api-keys', 'geo-callfs/internal-proxy', 'geo-callfs/link-signing', 'geo-callfs/lock-cache-token']) {
      t.hasResourceProperties('AWS::SecretsManager::Secret', {
        Name: name,
        ReplicaRegions: [{ Region: 'us-east-1' }, { Region: 'ap-southeast-1' }],
        GenerateSecretString: Match.objectLike({ ExcludePunctuation: true, PasswordLength: 48 }),
        SecretString: Match.absent(),
      });
    }
  });

  it('elsewhere: creates nothing and refers to the replicas by name', () => {
    const { stack } = bareStack('us-east-1');
    const secrets = new SharedSecrets(stack, 'Secrets', { mode: 'replica' });
    Template.fromStack(stack).resourceCountIs('AWS::SecretsManager::Secret', 0);
    // A dynamic reference: CloudFormation resolves it at deploy time, the template holds no value.
    expect(stack.resolve(secrets.lockCacheAuthTokenValue.unsafeUnwrap())).toBe('{{resolve:secretsmanager:geo-callfs/lock-cache-token:SecretString:::}}');
    expect(JSON.stringify(stack.resolve(secrets.apiKeys.secretArn))).toContain(':secretsmanager:us-east-1:');
    expect(JSON.stringify(stack.resolve(secrets.apiKeys.secretArn))).toContain(':secret:geo-callfs/api-keys');
  });
});
