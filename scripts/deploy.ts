/**
 * `npm run deploy -- plan | apply [--region NAME] [--stage NAME] [--yes]`: the rollout planner
 * for the CDK app (infra/rollout). Dry run by default. See infra/README.md.
 */
import { fileURLToPath } from 'node:url';
import { REGIONS } from '../regions/index.js';
import { runDeployCommand } from '../infra/rollout/cli.js';

try {
  process.exitCode = await runDeployCommand({ argv: process.argv.slice(2), regions: REGIONS, repositoryRoot: fileURLToPath(new URL('..', import.meta.url)) });
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 2;
}
