/**
 * Three projects (`npm test -- --project unit` runs one):
 *   unit         test/unit/**: pure code, nothing provisioned;
 *   workflow     test/workflow/**: a time-skipping Temporal test server per file;
 *   integration  test/integration/**: real PostgreSQL and the run's Temporal dev server.
 * The last two share test/setup/global-setup.ts, which runs only when one of them has files to run,
 * and test/setup/file-database.ts, which gives each file a database of its own. Every file also
 * works on task queues, workspaces and automations of its own, so all files of all three projects
 * run side by side, twice as many as cores (most of a provisioned file's time is waiting on Temporal,
 * PostgreSQL and timers; `npm test -- --maxWorkers=N` chooses another number).
 */
import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import { LongestFirst } from './test/setup/sequencer';

const provisioned = {
  globalSetup: ['test/setup/global-setup.ts'],
  setupFiles: ['test/setup/file-database.ts'],
  testTimeout: 60_000,
  // Starting a test server or a worker takes a while on a busy machine.
  hookTimeout: 180_000,
};

export default defineConfig({
  test: {
    maxWorkers: 2 * availableParallelism(),
    // `--changed` runs the files that import a changed file; these change every provisioned file's
    // run without being imported by it (the workflow code reaches the engine tests as a bundle).
    forceRerunTriggers: ['**/package.json/**', '**/vitest.config.*/**', '**/test/setup/**', '**/scripts/provision/**', '**/workflows/**'],
    sequence: { sequencer: LongestFirst },
    teardownTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'workflow', include: ['test/workflow/**/*.test.ts'], ...provisioned } },
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts'], ...provisioned } },
    ],
  },
});
