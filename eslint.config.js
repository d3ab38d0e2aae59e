// @ts-check
/**
 * `npm run lint` (and `npm test`, so CI): the rules that protect this codebase, nothing stylistic
 * (formatting is Prettier's, `npm run format`).
 *  - every promise is awaited, returned or explicitly `void`ed: a dropped one loses its error;
 *  - no unused variables or imports (unused exports and files: `npm run lint:unused`, knip);
 *  - every room imports only the rooms below it (LAYERS: the table says who may import what and
 *    why), across rooms through the `#room/` aliases of package.json#imports, never `../`;
 *  - domain/ and workflows/ stay pure: domain/ is shared by the API and the workflow bundle, and
 *    workflows/ must replay deterministically, so neither may import I/O modules (drivers, Node
 *    built-ins, I/O libraries). Workflows may import activity TYPES only;
 *  - no non-deterministic APIs in workflows/: timers, fetch, crypto, process, performance and
 *    Math.random would differ on replay (Temporal's sandbox replaces some of them, but the workflow
 *    API - sleep, condition, uuid4 - says what is meant).
 */
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Modules that do I/O or read the environment: forbidden in domain/ and workflows/. */
const ioModules = [
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
    message: 'I/O libraries belong in activities/, providers/, platform/, engine/ and services/.',
  },
];

/**
 * Which rooms each room must not import, and why (docs/design.md, "Rooms"). services/ is process
 * wiring and HTTP: only scripts, benchmarks and tests import it. `typeOnly` rooms may be imported
 * for their types (a workflow proxies activities by their type).
 */
const LAYERS = {
  domain: {
    forbid: ['db', 'platform', 'providers', 'activities', 'engine', 'workflows', 'services', 'migrations', 'scripts'],
    why: 'domain/ is pure rules: it imports only domain/ and pure libraries.',
  },
  workflows: {
    forbid: ['db', 'platform', 'providers', 'engine', 'services', 'migrations', 'scripts'],
    typeOnly: ['activities'],
    why: 'workflows/ replay deterministically: domain/ code, and activity types only.',
  },
  db: {
    forbid: ['providers', 'activities', 'engine', 'workflows', 'services', 'scripts'],
    why: 'db/ holds queries: it imports only domain/, platform/ and migrations/.',
  },
  platform: {
    forbid: ['db', 'providers', 'activities', 'engine', 'workflows', 'services', 'migrations', 'scripts'],
    why: 'platform/ is the ground floor of I/O (configuration, logging, clients): it imports only domain/.',
  },
  migrations: {
    forbid: ['db', 'platform', 'providers', 'activities', 'engine', 'workflows', 'services', 'scripts'],
    why: 'a migration is frozen in time: it imports nothing of ours.',
  },
  providers: {
    forbid: ['activities', 'engine', 'workflows', 'services', 'scripts'],
    why: 'providers/ talk to SendGrid and Twilio: they know nothing of activities, the engine or the services.',
  },
  activities: { forbid: ['engine', 'services', 'scripts'], why: 'activities/ are thin I/O steps over db/, providers/ and platform/.' },
  engine: { forbid: ['services', 'scripts'], why: 'engine/ is wired into processes by services/, never the other way round.' },
  'services/api': { forbid: ['activities', 'scripts'], why: 'services/api is HTTP only: it enrols through engine/ and never runs an activity.' },
  'services/worker': { forbid: ['scripts'], why: 'services/worker wires the processes; scripts/ are for people, not for the services.' },
};

/** The no-restricted-imports patterns of one room: its forbidden aliases and any `../` leaving it. */
function layerPatterns(room, { forbid, typeOnly = [], why }) {
  const depth = room.split('/').length;
  return [
    ...forbid.map((r) => ({ regex: `^#${r}/`, message: why })),
    ...typeOnly.map((r) => ({ regex: `^#${r}/`, allowTypeImports: true, message: why })),
    // A room's files sit at most two folders below it (services/api/routes/x.ts).
    ...[0, 1, 2].map((below) => ({
      regex: `^(\\.\\./){${depth + below},}`,
      message: `another room is imported through its #alias (package.json#imports), not a relative path`,
      _below: below,
    })),
  ];
}

/** One config object per room and per folder depth inside it, so `../` is refused exactly where it leaves the room. */
const layerConfigs = (extraPatterns) =>
  Object.entries(LAYERS).flatMap(([room, layer]) =>
    [0, 1, 2].map((below) => ({
      files: [`${room}/${'*/'.repeat(below)}*.ts`],
      rules: {
        '@typescript-eslint/no-restricted-imports': [
          'error',
          {
            patterns: [
              ...(extraPatterns[room] ?? []),
              ...layerPatterns(room, layer)
                .filter((p) => p._below === undefined || p._below === below)
                .map(({ _below, ...p }) => p),
            ],
          },
        ],
      },
    })),
  );

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
  ...layerConfigs({ domain: ioModules, workflows: ioModules }),
  {
    files: ['workflows/**/*.ts'],
    rules: {
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
