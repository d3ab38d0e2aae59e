/**
 * Replays every recorded history in test/histories/ against the current workflow code (bundled
 * once) and fails on any non-determinism: a change that would break running enrollments fails
 * here, and belongs behind `patched()` (see the top of workflows/enrollment.ts). New histories
 * come from scripts/record-histories.ts.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { loadHistory } from './histories';
import { quietRuntime, workflowBundle } from './harness';

const DIR = fileURLToPath(new URL('../histories/', import.meta.url));
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('replay of recorded histories', () => {
  it('has histories to replay', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it('replays every history without non-determinism', async () => {
    quietRuntime();
    const workflowBundleCode = await workflowBundle();
    const histories = files.map((file) => ({ workflowId: file.replace(/\.json$/, ''), history: loadHistory(join(DIR, file)) }));
    const failures: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories({ workflowBundle: workflowBundleCode }, histories)) {
      replayed++;
      if (result.error) failures.push(`${result.workflowId}: ${result.error.name}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(replayed).toBe(files.length);
  });
});
