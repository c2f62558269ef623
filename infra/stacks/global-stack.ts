/**
 * @module GlobalStack: the global hostname. One LatencyRecord per region (skipping regions with
 * dnsWeight 0, which are drained) in the existing hosted zone, each with its readiness health
 * check and an alarm on it that notifies the global alarm topic (every region file's e-mail
 * addresses, and their existing topics that live in us-east-1). Deployed to us-east-1, where Route 53 publishes health-check metrics; the
 * records themselves are global. Deploy it after the regions: it aliases their hostnames.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as route53 from 'aws-cdk-lib/aws-route53';
import type { Construct } from 'constructs';
import type { Region } from '../../regions/schema.js';
import { GLOBAL_STACK_NAME, GLOBAL_STACK_REGION, regionHostname } from '../config/names.js';
import { warnAboutPlaceholders, type DeploymentSettings } from '../config/settings.js';
import { LatencyRecord } from '../constructs/latency-record.js';
import { AlarmTopic } from '../constructs/region-alarms.js';

export interface GlobalStackProps extends StackProps {
  readonly regions: readonly Region[];
  readonly settings: DeploymentSettings;
}

export class GlobalStack extends Stack {
  readonly latencyRecords: ReadonlyMap<string, LatencyRecord>;
  readonly alarmTopic: AlarmTopic;

  constructor(scope: Construct, id: string, props: GlobalStackProps) {
    const { regions, settings } = props;
    super(scope, id, {
      ...props,
      stackName: GLOBAL_STACK_NAME,
      env: { account: settings.account, region: GLOBAL_STACK_REGION },
      terminationProtection: settings.stage === 'production',
      description: `geo-callfs global hostname ${settings.dns.globalHostname}: latency records and health checks`,
    });
    warnAboutPlaceholders(this, settings);
    const zone = route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', { hostedZoneId: settings.dns.hostedZoneId, zoneName: settings.dns.zoneName });
    // Health-check alarms live here (us-east-1): e-mails of every region, and existing topics of this AWS region.
    const seen = new Set<string>();
    const notifications = regions
      .flatMap((r) => r.alarmNotifications)
      .filter((n) => ('email' in n ? true : n.topicArn.split(':')[3] === GLOBAL_STACK_REGION))
      .filter((n) => {
        const key = 'email' in n ? `email:${n.email}` : `topic:${n.topicArn}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
    this.alarmTopic = new AlarmTopic(this, 'AlarmTopic', { description: 'geo-callfs global hostname alarms', notifications });
    const records = new Map<string, LatencyRecord>();
    for (const region of regions.filter((r) => r.dnsWeight > 0)) {
      const record = new LatencyRecord(this, `Latency-${region.name}`, {
          zone,
          globalHostname: settings.dns.globalHostname,
          regionHostname: regionHostname(region, settings.dns.globalHostname),
          awsRegion: region.awsRegion,
          setIdentifier: region.name,
          healthCheckPath: region.healthCheckPath,
        });
      this.alarmTopic.notify(record.healthAlarm);
      records.set(region.name, record);
    }
    this.latencyRecords = records;
    new CfnOutput(this, 'GlobalUrl', { value: `https://${settings.dns.globalHostname}` });
  }
}
