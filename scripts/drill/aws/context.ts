/**
 * @module What every part of the AWS provider shares: the SDK clients and their retry and
 * throttling rules (./aws-calls.ts), the regions, the options with their defaults applied, and
 * how a region and its bucket are named.
 */
import { REGIONS } from '../../../regions/index.js';
import { regionBucketName, type Region } from '../../../regions/schema.js';
import { AwsCalls } from './aws-calls.js';
import { DEFAULT_TIMINGS, type AwsProviderOptions, type ProviderTimings } from './options.js';

export class AwsContext {
  readonly aws: AwsCalls;
  readonly regions: readonly Region[];
  readonly timings: ProviderTimings;
  readonly log: (line: string) => void;

  constructor(readonly options: AwsProviderOptions) {
    this.aws = new AwsCalls(options);
    this.regions = options.regions ?? REGIONS;
    this.timings = { ...DEFAULT_TIMINGS, ...options.timings };
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  }

  region(name: string): Region {
    const region = this.regions.find((r) => r.name === name);
    if (region === undefined) throw new Error(`unknown region "${name}" (regions/: ${this.regions.map((r) => r.name).join(', ')})`);
    return region;
  }

  /** A region's bucket as the CDK app names it (`regionBucketName`: derived from the account unless the file names one). */
  bucketOf(region: Region): string {
    const mrapAccount = this.options.mrapArn === undefined ? undefined : /^arn:[^:]+:s3::(\d{12}):accesspoint\//.exec(this.options.mrapArn)?.[1];
    return regionBucketName(region, this.options.accountId ?? mrapAccount);
  }
}
