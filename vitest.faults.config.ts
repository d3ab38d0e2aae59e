/**
 * `npm run test:faults`: test/faults/** only (not part of `npm test`'s projects). Each file starts
 * its whole cluster itself (test/faults/cluster.ts); scenarios run one after another.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 900_000,
    teardownTimeout: 120_000,
  },
});
