/**
 * Entry of one region's S3 replicator, started by `up` inside that region's namespace:
 *   node --import tsx scripts/rehearsal/s3-replicator-main.ts <rehearsal dir> <region>
 */
import { readFileSync } from 'node:fs';
import { planFile } from './health-checker.js';
import { runReplicator, type BucketAddress } from './s3-replicator.js';
import { pathsOf } from './paths.js';
import { createdObjectsLog, replicationStatsFile } from './topology.js';
import type { RehearsalPlan } from './topology.js';

const [dir, regionName] = process.argv.slice(2);
if (dir === undefined || regionName === undefined) {
  process.stderr.write('usage: s3-replicator-main.ts <rehearsal dir> <region>\n');
  process.exit(2);
}
const plan = JSON.parse(readFileSync(planFile(dir), 'utf8')) as RehearsalPlan;
const address = (r: RehearsalPlan['regions'][number]): BucketAddress => ({ region: r.name, endpoint: r.s3Endpoint, bucket: r.bucket });
const source = plan.regions.find((r) => r.name === regionName);
if (source === undefined) {
  process.stderr.write(`no region ${regionName} in the plan\n`);
  process.exit(2);
}
let stopping = false;
process.on('SIGTERM', () => (stopping = true));
process.on('SIGINT', () => (stopping = true));
runReplicator({
  source: address(source),
  destinations: plan.regions.filter((r) => r !== source).map(address),
  statsFile: replicationStatsFile(plan, source.name),
  createdLog: createdObjectsLog(pathsOf(plan).run, source.name),
  intervalMs: 250,
  extraLagMs: plan.options.s3ExtraLagMs,
  shouldStop: () => stopping,
}).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`s3 replicator ${regionName}: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exit(1);
  },
);
