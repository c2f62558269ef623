/**
 * @module cdk-nag wiring. The AwsSolutions pack is registered once, at the app root, as a
 * policy validation plugin: synthesis fails on any finding that is not acknowledged.
 * `acknowledge` is the only way this app suppresses a rule, and it requires a reason.
 */
import { Stack, Token, Validations, type App } from 'aws-cdk-lib';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

export function applyNagChecks(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
}

/**
 * Accepts an AwsSolutions finding on `scope` and everything below it. `rule` is the id without
 * the pack prefix (`IAM5`, or `IAM5[Resource::...]` for one finding); `reason` says why the
 * finding does not apply or is the right trade-off here.
 */
export function acknowledge(scope: IConstruct, rule: string, reason: string): void {
  if (reason.trim().length < 20) throw new Error(`acknowledge ${rule}: the reason must explain the decision (got "${reason}")`);
  Validations.of(scope).acknowledge({ id: `AwsSolutions-${rule}`, reason });
}

/**
 * Accepts the one wildcard an ECS execution role that pulls a private image must hold:
 * `ecr:GetAuthorizationToken` has no resource-level permissions.
 */
export function acknowledgeImagePull(executionRole: IConstruct): void {
  acknowledge(
    executionRole,
    'IAM5[Resource::*]',
    'ecr:GetAuthorizationToken, which the execution role needs to pull the node image, has no resource-level permissions and must be granted on *',
  );
}

/**
 * The IAM5 finding cdk-nag reports for a grant on every object of `bucket`
 * (`Resource::<LogicalId.Arn>/*` for a bucket of this stack, the literal ARN for a named one).
 */
export function bucketObjectsFinding(bucket: s3.IBucket): string {
  const arn = bucket.bucketArn;
  if (!Token.isUnresolved(arn)) return `Resource::${arn.replace(/^arn:aws:/, 'arn:<AWS::Partition>:')}/*`;
  const resolved = Stack.of(bucket).resolve(arn) as unknown;
  const getAtt = (resolved as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
  if (getAtt !== undefined) return `Resource::<${getAtt[0]}.${getAtt[1]}>/*`;
  const joined = (resolved as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (joined !== undefined) {
    const text = joined[1].map((part) => (typeof part === 'string' ? part : `<${Object.values(part as Record<string, string>)[0] ?? ''}>`)).join(joined[0]);
    return `Resource::${text}/*`;
  }
  throw new Error(`nag: cannot name the IAM5 finding of bucket ${bucket.node.path}`);
}
