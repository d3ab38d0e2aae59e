/**
 * Bulk activation (`onlyNew: false`) at scale: 5,000 records already in the stage, the worker
 * process killed (SIGKILL) in the middle of the backfill, a new worker started: exactly 5,000
 * enrollments, one per record, each with its workflow on the Temporal server (counted there by
 * its search attributes), and the automation's read reports the backfill done.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createAutomation, startEngineTest, waitFor, type EngineTest } from './engine-support';

let e: EngineTest;
const children: ChildProcess[] = [];

beforeAll(async () => {
  e = await startEngineTest({ worker: false });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await e?.close();
});

const N = 5_000;

async function enrollments(automationId: string): Promise<{ rows: number; records: number }> {
  const row = await e.t.db
    .selectFrom('enrollments')
    .select([sql<number>`count(*)::int`.as('rows'), sql<number>`count(distinct record_id)::int`.as('records')])
    .where('workspace_id', '=', e.t.workspaceId)
    .where('automation_id', '=', automationId)
    .executeTakeFirstOrThrow();
  return row;
}

describe('bulk activation', () => {
  it(`${N} matching records, the worker killed midway: exactly ${N} enrollments`, async () => {
    const ids = Array.from({ length: N }, (_, i) => `bulk-${String(i).padStart(5, '0')}`);
    for (let i = 0; i < N; i += 1000) {
      await e.t.db
        .insertInto('records')
        .values(
          ids.slice(i, i + 1000).map((id) => ({
            workspace_id: e.t.workspaceId,
            external_id: id,
            email: `${id}@example.com`,
            phone: null,
            name: id,
            timezone: 'UTC',
            stage: 'lapsed',
            owner_id: null,
            attributes: JSON.stringify({}),
            unsubscribed: JSON.stringify({}),
          })),
        )
        .execute();
    }
    // A record in another stage is not enrolled.
    await e.api('PUT', '/v1/records/bulk-other', { name: 'Other', stage: 'active' });

    const first = await e.spawnWorker();
    children.push(first);
    const { id } = await createAutomation(
      e,
      {
        name: 'Win back the lapsed',
        trigger: { type: 'stage_entered', stage: 'lapsed' },
        steps: [
          { id: 'rest', type: 'wait', duration: 'P30D' },
          { id: 'hello', type: 'email', to: 'record', template: 'tpl_bulk' },
        ],
      },
      { templates: [{ id: 'tpl_bulk' }], onlyNew: false },
    );
    await waitFor('the backfill under way', async () => (await enrollments(id)).rows >= 300, 180_000, 100);
    first.kill('SIGKILL');
    await new Promise<void>((resolve) => (first.exitCode !== null || first.signalCode !== null ? resolve() : first.once('exit', () => resolve())));
    const atKill = await enrollments(id);
    expect(atKill.rows).toBeLessThan(N); // killed in the middle, not after the end

    const running = (await e.api('GET', `/v1/automations/${id}`)).body;
    expect(running.backfill).toMatchObject({ status: 'running' });

    const second = await e.spawnWorker();
    children.push(second);
    await waitFor('the backfill done', async () => (await e.api('GET', `/v1/automations/${id}`)).body.backfill?.status === 'done', 600_000, 500);
    expect(await enrollments(id)).toEqual({ rows: N, records: N });
    expect((await e.api('GET', `/v1/automations/${id}`)).body.backfill).toEqual({ status: 'done', enrolled: N, cancelledAt: null });
    // Each enrollment's workflow exists once on the server (started with its search attributes).
    await waitFor('the workflows listed', async () => (await e.temporal.workflow.count(`AutomationId = "${id}"`)).count === N, 60_000, 500);
    second.kill('SIGTERM');
  }, 900_000);
});
