/**
 * Replays every recorded history in test/histories/ against the current workflow code (bundled
 * once) and fails on any non-determinism: a change that would break running enrollments fails
 * here, and belongs behind `patched()` (see the top of workflows/enrollment.ts). New histories
 * come from scripts/record-histories.ts: prod-*.json from the real worker and activities on the
 * dev server (--production), the others from the workflow tests' recorder on the time-skipping server.
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
  it('has histories to replay, production-shaped ones among them', () => {
    expect(files.length).toBeGreaterThan(0);
    // Recorded from the real worker and activities (test/integration/production-histories.test.ts).
    expect(files.filter((f) => f.startsWith('prod-')).map((f) => f.replace(/(\.run\d+)?\.json$/, ''))).toEqual(
      expect.arrayContaining([
        'prod-trigger-event',
        'prod-signal-with-start',
        'prod-failed-step',
        'prod-cancel',
        'prod-exit-during-retries',
        'prod-webhook-failure',
        'prod-suggested-continue-as-new',
        'prod-long-wait-noise',
        'prod-event-counts-from-table',
      ]),
    );
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
