/**
 * `npm run test:contract`: test/contract/** only (not part of `npm test`'s projects): the OpenAPI
 * fuzzer against the started API, on the same provisioning as the integration tests.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/contract/**/*.test.ts'],
    globalSetup: ['test/setup/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 1_500_000,
    // Installing Schemathesis from PyPI on a fresh machine takes a minute or two.
    hookTimeout: 600_000,
    teardownTimeout: 60_000,
  },
});
