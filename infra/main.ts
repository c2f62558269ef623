/**
 * @module The CDK app entry (cdk.json: `node --import tsx infra/main.ts`). The only infra module
 * that reads CDK context and the environment: it turns them into settings, builds the app from
 * `regions/`, and lets the CLI synthesize it. No lookups, no network, no Docker at synth.
 */
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { REGIONS } from '../regions/index.js';
import { FEATURE_FLAGS } from './config/feature-flags.js';
import { settingsFromContext } from './config/settings.js';
import { buildGeoApp } from './geo-app.js';

const app = new App({ context: { ...FEATURE_FLAGS } });
const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));
const settings = settingsFromContext((key) => app.node.tryGetContext(key) as unknown, process.env, repositoryRoot);
buildGeoApp(app, REGIONS, settings);
app.synth();
