/**
 * @module ReplicatedBucket: a region's S3 bucket for file bytes: versioned, encrypted (SSE-S3),
 * public access blocked, TLS 1.2+ only, access-logged. It replicates to every other region's
 * bucket with one rule per destination: replication time control and its metrics (15 minutes),
 * delete markers, and replica modification sync, so that with the mirror rules in the other
 * regions every pair of buckets replicates both ways. The destinations are named, not
 * referenced: each is another region's bucket with a deterministic name.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge, bucketObjectsFinding } from '../aspects/nag.js';

export interface ReplicationPeer {
  /** The other region's short name (used in rule ids and construct ids). */
  readonly name: string;
  readonly bucketName: string;
  readonly awsRegion: string;
}

export interface ReplicatedBucketProps {
  readonly bucketName: string;
  /** Every other region's bucket; empty when the deployment has one region. */
  readonly peers: readonly ReplicationPeer[];
  /**
   * False only for a first rollout, when the peers' buckets do not exist yet.
   * @default true
   */
  readonly replicationEnabled?: boolean;
  readonly accessLogBucket: s3.IBucket;
  /**
   * Days a replaced or deleted version is kept before it expires.
   * @default 30
   */
  readonly noncurrentVersionRetentionDays?: number;
}

/** One outgoing replication rule, as alarms and tests need it. */
export interface OutgoingReplication {
  readonly peer: string;
  readonly ruleId: string;
  readonly destinationBucketName: string;
}

export class ReplicatedBucket extends Construct {
  readonly bucket: s3.Bucket;
  /** The role S3 assumes to replicate; undefined when nothing replicates. */
  readonly replicationRole?: iam.Role;
  readonly outgoing: readonly OutgoingReplication[];

  constructor(scope: Construct, id: string, props: ReplicatedBucketProps) {
    super(scope, id);
    const replicating = (props.replicationEnabled ?? true) && props.peers.length > 0;
    const account = Stack.of(this).account;
    const destinations = replicating
      ? props.peers.map((peer) => ({
          peer,
          ruleId: `to-${peer.name}`,
          bucket: s3.Bucket.fromBucketAttributes(this, `Peer-${peer.name}`, { bucketName: peer.bucketName, region: peer.awsRegion, account }),
        }))
      : [];
    if (replicating) {
      this.replicationRole = new iam.Role(this, 'ReplicationRole', {
        assumedBy: new iam.ServicePrincipal('s3.amazonaws.com'),
        description: `S3 replication from ${props.bucketName} to the other regions' buckets`,
      });
    }
    this.bucket = new s3.Bucket(this, 'Resource', {
      bucketName: props.bucketName,
      versioned: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      serverAccessLogsBucket: props.accessLogBucket,
      serverAccessLogsPrefix: `s3/${props.bucketName}/`,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'expire-old-versions',
          noncurrentVersionExpiration: Duration.days(props.noncurrentVersionRetentionDays ?? 30),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
      ],
      replicationRole: this.replicationRole,
      replicationRules: destinations.map((d, priority) => ({
        id: d.ruleId,
        destination: d.bucket,
        priority,
        replicationTimeControl: s3.ReplicationTimeValue.FIFTEEN_MINUTES,
        metrics: s3.ReplicationTimeValue.FIFTEEN_MINUTES,
        deleteMarkerReplication: true,
        replicaModifications: true,
      })),
    });
    if (this.replicationRole !== undefined) {
      this.bucket.grantReplicationPermission(this.replicationRole, { destinations: destinations.map((d) => ({ bucket: d.bucket })) });
      for (const bucket of [this.bucket, ...destinations.map((d) => d.bucket)]) {
        acknowledge(
          this.replicationRole,
          `IAM5[${bucketObjectsFinding(bucket)}]`,
          'S3 replication reads every object version of the source bucket and writes replicas of any key into each destination bucket, so its object actions apply to <bucket>/*; each is a named bucket of this deployment',
        );
      }
    }
    this.outgoing = destinations.map((d) => ({ peer: d.peer.name, ruleId: d.ruleId, destinationBucketName: d.peer.bucketName }));
  }
}
