/**
 * @module RegionHostname: `<region>.<global hostname>`, an alias record straight to the region's
 * load balancer (evaluating target health). Drills and debugging address one region through it,
 * and the global latency record and health check point at it.
 */
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import { Construct } from 'constructs';

export interface RegionHostnameProps {
  readonly zone: route53.IHostedZone;
  /** Fully qualified name, e.g. eu.files.example.com. */
  readonly hostname: string;
  readonly loadBalancer: elbv2.IApplicationLoadBalancer;
}

export class RegionHostname extends Construct {
  readonly record: route53.ARecord;

  constructor(scope: Construct, id: string, props: RegionHostnameProps) {
    super(scope, id);
    this.record = new route53.ARecord(this, 'Resource', {
      zone: props.zone,
      recordName: `${props.hostname}.`,
      target: route53.RecordTarget.fromAlias(new targets.LoadBalancerTarget(props.loadBalancer, { evaluateTargetHealth: true })),
    });
  }
}
