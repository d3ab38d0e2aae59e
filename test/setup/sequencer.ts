/**
 * Every file of the run, whatever its project, longest first: by its duration in the last run
 * (node_modules/.vite), a file not seen before first, larger files first among those. Vitest's own
 * order runs project after project, leaving the CPU-bound unit and workflow files for the end, after
 * the integration files whose time is mostly waiting; mixed, they fill each other's idle time.
 */
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export class LongestFirst extends BaseSequencer {
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
