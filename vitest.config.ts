/**
 * Three projects (`npm test -- --project unit` runs one):
 *   unit         test/unit/**: pure code, nothing provisioned, files in parallel;
 *   workflow     test/workflow/**: time-skipping Temporal test server, files one at a time;
 *   integration  test/integration/**: real PostgreSQL and a Temporal dev server, files one at a time.
 * The last two share test/setup/global-setup.ts, which runs only when one of them has files to run.
 */
import { defineConfig } from 'vitest/config';

const provisioned = {
  globalSetup: ['test/setup/global-setup.ts'],
  fileParallelism: false,
  testTimeout: 60_000,
  // Bundling workflow code and starting a test server take a while on a busy machine.
  hookTimeout: 180_000,
};

export default defineConfig({
  test: {
    teardownTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'workflow', include: ['test/workflow/**/*.test.ts'], ...provisioned } },
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts'], ...provisioned } },
    ],
  },
});
