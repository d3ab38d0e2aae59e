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
import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Every file of the run, whatever its project, longest first: by its duration in the last run
 * (node_modules/.vite), a file not seen before first, larger files first among those. Vitest's own
 * order runs project after project, leaving the CPU-bound unit and workflow files for the end, after
 * the integration files whose time is mostly waiting; mixed, they fill each other's idle time.
 */
class LongestFirst extends BaseSequencer {
  override sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const { cache, config } = this.ctx;
    const known = new Map(
      files.map((spec) => {
        const key = `${spec.project.name}:${relative(config.root, spec.moduleId)}`;
        return [spec, { last: cache.getFileTestResults(key), size: cache.getFileStats(key)?.size ?? 0 }];
      }),
    );
    return Promise.resolve(
      [...files].sort((a, b) => {
        const [x, y] = [known.get(a)!, known.get(b)!];
        if (!x.last || !y.last) return x.last ? 1 : y.last ? -1 : y.size - x.size;
        if (x.last.failed !== y.last.failed) return x.last.failed ? -1 : 1;
        return y.last.duration - x.last.duration;
      }),
    );
  }
}

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
