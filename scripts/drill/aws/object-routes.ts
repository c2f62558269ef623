/**
 * @module The AWS provider's object routing: with a Multi-Region Access Point, its routes (100 to
 * the active regions, 0 to the others) through the first control region that answers; without
 * one, each bucket's replication rules, so writes in the active regions reach each other.
 */
import { GetBucketReplicationCommand, PutBucketReplicationCommand, type ReplicationRule } from '@aws-sdk/client-s3';
import { SubmitMultiRegionAccessPointRoutesCommand } from '@aws-sdk/client-s3-control';
import { type Region } from '../../../regions/schema.js';
import type { AwsContext } from './context.js';
import { MRAP_CONTROL_REGIONS } from './options.js';
import { describeError, isError, isUnreachable } from './aws-calls.js';

/** routeObjects of the AWS provider. */
export class ObjectRoutes {
  readonly #ctx: AwsContext;


  constructor(ctx: AwsContext) {
    this.#ctx = ctx;
  }

  async routeObjects(activeRegions: readonly string[]): Promise<string> {
    const active = activeRegions.map((n) => this.#ctx.region(n));
    if (active.length === 0) throw new Error('routeObjects: at least one active region is needed');
    const mrapArn = this.#ctx.options.mrapArn;
    if (mrapArn !== undefined) return this.#routeMrap(mrapArn, active);

    const problems: string[] = [];
    const repaired: string[] = [];
    for (const region of active) {
      const s3 = this.#ctx.aws.s3(region.awsRegion);
      let rules: ReplicationRule[];
      let role: string | undefined;
      try {
        const out = await this.#ctx.aws.call(`S3 GetBucketReplication ${this.#ctx.bucketOf(region)}`, () => s3.send(new GetBucketReplicationCommand({ Bucket: this.#ctx.bucketOf(region) })));
        rules = out.ReplicationConfiguration?.Rules ?? [];
        role = out.ReplicationConfiguration?.Role;
      } catch (error) {
        if (!isError(error, 'ReplicationConfigurationNotFoundError')) throw error;
        problems.push(`${this.#ctx.bucketOf(region)} has no replication configuration`);
        continue;
      }
      let changed = false;
      const updated = rules.map((rule) => {
        const peer = active.find((p) => p.name !== region.name && rule.Destination?.Bucket === `arn:aws:s3:::${this.#ctx.bucketOf(p)}`);
        if (peer === undefined || rule.Status === 'Enabled') return rule;
        changed = true;
        repaired.push(`${region.name}→${peer.name}`);
        return { ...rule, Status: 'Enabled' as const };
      });
      for (const peer of active.filter((p) => p.name !== region.name)) {
        if (!rules.some((rule) => rule.Destination?.Bucket === `arn:aws:s3:::${this.#ctx.bucketOf(peer)}`)) problems.push(`${this.#ctx.bucketOf(region)} has no rule to ${this.#ctx.bucketOf(peer)}`);
      }
      if (changed) {
        await this.#ctx.aws.call(`S3 PutBucketReplication ${this.#ctx.bucketOf(region)}`, () => s3.send(new PutBucketReplicationCommand({ Bucket: this.#ctx.bucketOf(region), ReplicationConfiguration: { Role: role, Rules: updated } })));
      }
    }
    if (problems.length > 0) throw new Error(`routeObjects: ${problems.join('; ')} (deploy the region stacks with replication on)`);
    const withdrawn = this.#ctx.regions.filter((r) => !active.includes(r));
    return [
      `objects: ${active.map((r) => r.name).join(', ')} replicate to each other${repaired.length > 0 ? ` (re-enabled ${repaired.join(', ')})` : ''}`,
      withdrawn.length > 0 ? `; rules to ${withdrawn.map((r) => r.name).join(', ')} are kept as deployed (S3 queues those copies until the region is back)` : '',
    ].join('');
  }

  async #routeMrap(mrapArn: string, active: readonly Region[]): Promise<string> {
    const account = this.#ctx.options.accountId ?? /^arn:[^:]+:s3::(\d{12}):accesspoint\//.exec(mrapArn)?.[1];
    if (account === undefined) throw new Error(`routeObjects: no account id in ${mrapArn}; pass accountId`);
    const routes = this.#ctx.regions.map((r) => ({ Bucket: this.#ctx.bucketOf(r), Region: r.awsRegion, TrafficDialPercentage: active.includes(r) ? 100 : 0 }));
    const tried: string[] = [];
    for (const controlRegion of this.#ctx.options.mrapControlRegions ?? MRAP_CONTROL_REGIONS) {
      try {
        await this.#ctx.aws.call(`S3 Control SubmitMultiRegionAccessPointRoutes (${controlRegion})`, () => this.#ctx.aws.s3Control(controlRegion).send(new SubmitMultiRegionAccessPointRoutesCommand({ AccountId: account, Mrap: mrapArn, RouteUpdates: routes })));
        return `objects: ${mrapArn} routes 100 % to ${active.map((r) => r.name).join(', ')} and 0 % to the others (via ${controlRegion}; takes about 2 min)`;
      } catch (error) {
        if (!isUnreachable(error)) throw error;
        tried.push(`${controlRegion}: ${describeError(error)}`);
      }
    }
    throw new Error(`routeObjects: no MRAP control region answered (${tried.join('; ')})`);
  }
}
