// @ts-check
/**
 * `npm run lint` (and `npm test`, so CI): the rules that protect this codebase, nothing stylistic
 * (formatting is Prettier's, `npm run format`).
 *  - every promise is awaited, returned or explicitly `void`ed: a dropped one loses its error;
 *  - no unused variables or imports (unused exports and files: `npm run lint:unused`, knip);
 *  - domain/ and workflows/ stay pure: domain/ is shared by the API and the workflow bundle, and
 *    workflows/ must replay deterministically, so neither may import I/O modules (db/, activities/
 *    values, services/, drivers, Node built-ins, config). Workflows may import activity TYPES only;
 *  - no non-deterministic APIs in workflows/: timers, fetch, crypto, process, performance and
 *    Math.random would differ on replay (Temporal's sandbox replaces some of them, but the workflow
 *    API - sleep, condition, uuid4 - says what is meant).
 */
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Modules that do I/O or read the environment: forbidden in domain/ and workflows/. */
const ioModules = [
  { group: ['**/db', '**/db/**'], message: 'domain/ and workflows/ do no I/O: queries live in db/ and run in activities or services.' },
  { group: ['**/services/**'], message: 'domain/ and workflows/ must not depend on services (HTTP, worker wiring, config).' },
  { group: ['pg', 'pg-*', 'kysely', 'kysely/*'], message: 'database drivers belong in db/.' },
  {
    group: [
      'node:*',
      'fs',
      'fs/*',
      'path',
      'os',
      'http',
      'https',
      'net',
      'crypto',
      'child_process',
      'worker_threads',
      'timers',
      'timers/*',
      'process',
      'url',
      'dns',
      'stream',
      'events',
      'util',
    ],
    message: 'Node built-ins do I/O or are non-deterministic: keep them out of domain/ and workflows/.',
  },
  {
    group: [
      'pino',
      'pino-*',
      'prom-client',
      'fastify',
      'fastify-*',
      '@fastify/*',
      'undici',
      '@sendgrid/*',
      'twilio',
      '@temporalio/client',
      '@temporalio/worker',
      '@temporalio/activity',
      '@temporalio/testing',
    ],
    message: 'I/O libraries belong in activities/ and services/.',
  },
];

const nonDeterministicGlobals = [
  'setTimeout',
  'setInterval',
  'setImmediate',
  'clearTimeout',
  'clearInterval',
  'queueMicrotask',
  'fetch',
  'crypto',
  'process',
  'performance',
  'require',
].map((name) => ({
  name,
  message: `${name} is not deterministic on replay: use the @temporalio/workflow API (sleep, condition, uuid4, CancellationScope).`,
}));

export default tseslint.config(
  { ignores: ['node_modules/**', '.data/**', 'dist/**', 'test/client/schema.d.ts', 'coverage/**'] },
  {
    files: ['**/*.ts', '**/*.mjs', '**/*.js'],
    // The syntactic recommended sets plus the type-aware rules that catch real faults here; the
    // no-unsafe-* family is left out (tests read untyped JSON bodies on purpose).
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: {
      // The dashboard's script is the browser's, outside tsconfig.json (which holds Node code only).
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', '*.mjs', 'scripts/*.mjs', 'services/api/dashboard/*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/no-base-to-string': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
    },
  },
  {
    // Tests and benchmarks read untyped JSON bodies and probe internals.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['domain/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            ...ioModules,
            // The interpreter names activity request types; it never calls an activity itself.
            { group: ['**/activities', '**/activities/**'], allowTypeImports: true, message: 'domain/ may import activity types only.' },
            { group: ['**/workflows', '**/workflows/**'], message: 'domain/ is below workflows/: move the shared piece into domain/.' },
          ],
        },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            ...ioModules,
            {
              group: ['**/activities', '**/activities/**'],
              allowTypeImports: true,
              message: 'workflows import activities as types only (proxyActivities<Activities>()).',
            },
          ],
        },
      ],
      'no-restricted-globals': ['error', ...nonDeterministicGlobals],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'use the seeded random of @temporalio/workflow (or uuid4) so replay draws the same values.' },
        { object: 'globalThis', property: 'setTimeout', message: 'use sleep() from @temporalio/workflow.' },
        { object: 'globalThis', property: 'fetch', message: 'HTTP belongs in an activity.' },
        { object: 'globalThis', property: 'process', message: 'the environment belongs in the worker, not the workflow.' },
      ],
    },
  },
);
