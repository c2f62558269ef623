/**
 * @module RemoteParameter: reads, at deploy time, an SSM parameter that another region's stack
 * published in its own AWS region (an endpoint, a VPC id). CloudFormation cannot resolve
 * parameters of another region, so a small custom resource calls `ssm:GetParameter` there. The
 * producer never learns about its readers: unlike CDK's cross-region references, nothing locks
 * the producer's value or blocks its replacement. The read happens when the reading is created or
 * changed, not on every deploy; the values read (endpoints of resources with deterministic names,
 * VPC and route table ids) stay the same as long as those resources are not replaced.
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';

export interface RemoteParameterProps {
  /** Full parameter name, starting with `/`. */
  readonly parameterName: string;
  /** AWS region the parameter lives in. */
  readonly awsRegion: string;
  /** Log group of the custom resource's function (shared by every reader of the stack). */
  readonly logGroup: logs.ILogGroup;
}

export class RemoteParameter extends Construct {
  /** The parameter's value (a deploy-time token). */
  readonly value: string;

  constructor(scope: Construct, id: string, props: RemoteParameterProps) {
    super(scope, id);
    if (!props.parameterName.startsWith('/')) throw new Error(`remote parameter: name "${props.parameterName}" must start with /`);
    const arn = Stack.of(this).formatArn({
      service: 'ssm',
      region: props.awsRegion,
      resource: 'parameter',
      resourceName: props.parameterName.slice(1),
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
    const read: cr.AwsSdkCall = {
      service: 'SSM',
      action: 'GetParameter',
      parameters: { Name: props.parameterName },
      region: props.awsRegion,
      physicalResourceId: cr.PhysicalResourceId.of(`${props.awsRegion}:${props.parameterName}`),
      outputPaths: ['Parameter.Value'],
    };
    const reader = new cr.AwsCustomResource(this, 'Resource', {
      onCreate: read,
      onUpdate: read,
      policy: cr.AwsCustomResourcePolicy.fromSdkCalls({ resources: [arn] }),
      installLatestAwsSdk: false,
      logGroup: props.logGroup,
    });
    this.value = reader.getResponseField('Parameter.Value');
  }
}
