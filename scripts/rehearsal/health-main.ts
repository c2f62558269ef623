/**
 * Entry of the rehearsal's health checker process, started by `up` inside the router namespace:
 *   node --import tsx scripts/rehearsal/health-main.ts <rehearsal dir> <dns dir>
 */
import { runHealthChecker } from './health-checker.js';

const [dir, dnsDir] = process.argv.slice(2);
if (dir === undefined || dnsDir === undefined) {
  process.stderr.write('usage: health-main.ts <rehearsal dir> <dns dir>\n');
  process.exit(2);
}
runHealthChecker(dir, dnsDir).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`health checker: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exit(1);
  },
);
