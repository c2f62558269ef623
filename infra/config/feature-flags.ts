/**
 * @module The aws-cdk-lib feature flags this app is written for. They are set in code rather
 * than in cdk.json so that the tests synthesize exactly what `cdk synth` does.
 */
export const FEATURE_FLAGS: Readonly<Record<string, boolean>> = {
  // Log buckets receive S3 server access logs through a bucket policy, so ACLs stay disabled.
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  // An IAM policy's statements are merged and deduplicated instead of one per grant.
  '@aws-cdk/aws-iam:minimizePolicies': true,
  // The replica's resource id attribute is the replica's own (older versions returned the source's).
  '@aws-cdk/aws-rds:setCorrectValueForDatabaseInstanceReadReplicaInstanceResourceId': true,
  // Database identifiers are lower-cased the way RDS stores them, so names stay stable.
  '@aws-cdk/aws-rds:lowercaseDbIdentifier': true,
  // Custom resources use the SDK bundled with the Lambda runtime: synth and deploy download nothing.
  '@aws-cdk/customresources:installLatestAwsSdkDefault': false,
  // Fargate task execution roles get only the log permissions they use.
  '@aws-cdk/aws-ecs:reduceEc2FargateCloudWatchPermissions': true,
  // A SecretValue used where a plain string is expected fails synthesis instead of being rendered.
  '@aws-cdk/core:checkSecretUsage': true,
};
