/**
 * `npm run drill -- <drill> <target> [--yes]`: region failover drills against the rehearsal
 * (`--provider local`, the default) or an AWS deployment (`--provider aws`). See docs/drills.md.
 */
import { runDrillCommand } from './drill/cli.js';
import { scorecardHooks } from './drill/local/scorecard-hooks.js';

try {
  process.exitCode = await runDrillCommand({ argv: process.argv.slice(2), scorecard: scorecardHooks() });
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 2;
}
