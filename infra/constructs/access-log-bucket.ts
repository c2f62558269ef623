/**
 * @module AccessLogBucket: where the region's load balancer and its data bucket write their
 * access logs. Encrypted with SSE-S3 (the only encryption ALB log delivery supports), TLS only,
 * no public access, logs expire after a retention.
 */
import type { RemovalPolicy } from 'aws-cdk-lib';
import { Duration } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from '../aspects/nag.js';

export interface AccessLogBucketProps {
  readonly retentionDays: number;
  /** RETAIN for production stages, DESTROY (bucket emptied by hand first) otherwise. */
  readonly removalPolicy: RemovalPolicy;
}

export class AccessLogBucket extends Construct {
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: AccessLogBucketProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Resource', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: false,
      removalPolicy: props.removalPolicy,
      lifecycleRules: [{ id: 'expire-logs', expiration: Duration.days(props.retentionDays) }],
    });
    acknowledge(this.bucket, 'S1', 'this is the access-log bucket itself; logging its own accesses into itself would loop');
  }
}
