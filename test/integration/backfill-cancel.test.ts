/**
 * Cancelling a bulk activation (`onlyNew: false`) midway: POST /v1/automations/{id}/backfill/cancel
 * while the router works through 3,000 records already in the stage. No further record is
 * enrolled, the read shows the backfill cancelled with the count so far, and that count is what
 * the enrollments table and the Temporal server hold (each started enrollment keeps running). The
 * worker is then killed and a new one started: the backfill does not resume, while the automation,
 * still active, enrolls a record that enters the stage from then on. And a backfill cancelled while
 * a router holds its row, with the automation deactivated and activated again meanwhile, does not
 * come back beside the new activation's backfill once the router lets go (it did: every record
 * enrolled twice under `always`, 80 of 40, before the router checked for a newer backfill).
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

let e: EngineTest;
beforeAll(async () => {
  e = await startEngineTest({ worker: false });
});
afterAll(async () => {
  await e?.close();
});

const N = 3_000;

async function enrollments(automationId: string): Promise<{ rows: number; records: number; backfill: number }> {
  return e.t.db
    .selectFrom('enrollments')
    .select([
      sql<number>`count(*)::int`.as('rows'),
      sql<number>`count(distinct record_id)::int`.as('records'),
      sql<number>`(count(*) filter (where trigger_event_id like 'backfill:%'))::int`.as('backfill'),
    ])
    .where('workspace_id', '=', e.t.workspaceId)
    .where('automation_id', '=', automationId)
    .executeTakeFirstOrThrow();
}

async function stopped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
}

describe('cancelling a backfill', () => {
  it(`cancelled midway through ${N} records: no further enrollment, the count so far in the read, the table and Temporal; a new worker does not resume it`, async () => {
    for (let i = 0; i < N; i += 1000) {
      await e.t.db
        .insertInto('records')
        .values(
          Array.from({ length: Math.min(1000, N - i) }, (_, j) => {
            const id = `dormant-${String(i + j).padStart(5, '0')}`;
            return {
              workspace_id: e.t.workspaceId,
              external_id: id,
              email: `${id}@example.com`,
              phone: null,
              name: id,
              timezone: 'UTC',
              stage: 'dormant',
              owner_id: null,
              attributes: JSON.stringify({}),
              unsubscribed: JSON.stringify({}),
            };
          }),
        )
        .execute();
    }
    const first = await e.spawnWorker();
    const { id } = await createAutomation(
      e,
      {
        name: 'Wake the dormant',
        trigger: { type: 'stage_entered', stage: 'dormant' },
        steps: [
          { id: 'rest', type: 'wait', duration: 'P30D' },
          { id: 'hello', type: 'email', to: 'record', template: 'tpl_wake' },
        ],
      },
      { templates: [{ id: 'tpl_wake' }], onlyNew: false },
    );
    await waitFor('the backfill under way', async () => (await enrollments(id)).rows >= 100, 180_000, 50);

    const cancel = await e.api('POST', `/v1/automations/${id}/backfill/cancel`);
    expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
    expect(cancel.body.status).toBe('active');
    expect(['cancelling', 'cancelled']).toContain(cancel.body.backfill.status);
    expect(cancel.body.backfill.cancelledAt).toBeTypeOf('string');

    // `cancelled` once the router let go of the page it had in hand: the count is final from then on.
    const read = await waitFor(
      'the backfill cancelled',
      async () => {
        const r = (await e.api('GET', `/v1/automations/${id}`)).body;
        return r.backfill.status === 'cancelled' && r;
      },
      120_000,
      100,
    );
    const enrolled = read.backfill.enrolled as number;
    expect(enrolled).toBeGreaterThanOrEqual(100);
    expect(enrolled).toBeLessThan(N); // cancelled in the middle, not after the end
    expect(read.backfill).toEqual({ status: 'cancelled', enrolled, cancelledAt: cancel.body.backfill.cancelledAt });
    expect(await enrollments(id)).toEqual({ rows: enrolled, records: enrolled, backfill: enrolled });
    // Every enrollment it started has its workflow on the server, still running (waiting 30 days).
    await waitFor('the workflows listed', async () => (await e.temporal.workflow.count(`AutomationId = "${id}"`)).count === enrolled, 60_000, 500);
    expect((await e.temporal.workflow.count(`AutomationId = "${id}" AND ExecutionStatus = "Running"`)).count).toBe(enrolled);
    // Nothing left for a router to pick up.
    const rows = await e.t.db
      .selectFrom('outbox')
      .select('id')
      .where('workspace_id', '=', e.t.workspaceId)
      .where(sql<string>`payload->>'automationId'`, '=', id)
      .execute();
    expect(rows).toEqual([]);
    // Cancelling again answers the same.
    const again = await e.api('POST', `/v1/automations/${id}/backfill/cancel`);
    expect(again.status).toBe(200);
    expect(again.body.backfill).toEqual(read.backfill);

    // The worker killed, a new one started: the backfill stays where it was cancelled, while the
    // automation (still active) enrolls a record that enters the stage from now on.
    first.kill('SIGKILL');
    await stopped(first);
    const second = await e.spawnWorker();
    await putRecord(e, 'dormant-new', { stage: 'dormant' });
    await waitFor('the new entry', async () => (await enrollments(id)).rows === enrolled + 1, 60_000, 200);
    await new Promise((r) => setTimeout(r, 2_000)); // a few more router polls (ROUTER_POLL_MS 250)
    expect(await enrollments(id)).toEqual({ rows: enrolled + 1, records: enrolled + 1, backfill: enrolled });
    expect((await e.api('GET', `/v1/automations/${id}`)).body.backfill).toEqual(read.backfill);
    await waitFor('the workflows listed', async () => (await e.temporal.workflow.count(`AutomationId = "${id}"`)).count === enrolled + 1, 60_000, 500);
    second.kill('SIGTERM');
    await stopped(second);
  }, 600_000);
});

describe('a backfill cancelled while a router holds it, then the automation deactivated and activated again', () => {
  it('the new activation runs only its own backfill: the cancelled one does not come back when its router lets go', async () => {
    const n = 40;
    for (let i = 0; i < n; i++) {
      await e.t.db
        .insertInto('records')
        .values({
          workspace_id: e.t.workspaceId,
          external_id: `idle-${i}`,
          email: `idle-${i}@example.com`,
          phone: null,
          name: `idle-${i}`,
          timezone: 'UTC',
          stage: 'idle',
          owner_id: null,
          attributes: JSON.stringify({}),
          unsubscribed: JSON.stringify({}),
        })
        .execute();
    }
    const { id } = await createAutomation(
      e,
      {
        name: 'Nudge the idle',
        trigger: { type: 'stage_entered', stage: 'idle' },
        // `always`: two backfills would each enrol every record.
        settings: { reentry: 'always' },
        steps: [
          { id: 'rest', type: 'wait', duration: 'P30D' },
          { id: 'hello', type: 'email', to: 'record', template: 'tpl_idle' },
        ],
      },
      { templates: [{ id: 'tpl_idle' }], onlyNew: false },
    );
    const backfillRows = () =>
      e.t.db
        .selectFrom('outbox')
        .select('id')
        .where('workspace_id', '=', e.t.workspaceId)
        .where('kind', '=', 'automation_backfill')
        .where(sql<string>`payload->>'automationId'`, '=', id)
        .orderBy('id')
        .execute();
    const [first] = await backfillRows();
    // A router's batch holds the first backfill's row (here: this transaction) while it is cancelled,
    // and the automation deactivated and activated again.
    let release!: () => void;
    let held!: () => void;
    const isHeld = new Promise<void>((r) => (held = r));
    const holding = e.t.db.transaction().execute(async (trx) => {
      await trx.selectFrom('outbox').select('id').where('id', '=', first!.id).forUpdate().execute();
      held();
      await new Promise<void>((r) => (release = r));
    });
    await isHeld;
    expect((await e.api('POST', `/v1/automations/${id}/backfill/cancel`)).body.backfill).toMatchObject({ status: 'cancelling', enrolled: 0 });
    expect((await e.api('POST', `/v1/automations/${id}/deactivate`, { inFlight: 'finish' })).status).toBe(200);
    expect((await e.api('POST', `/v1/automations/${id}/activate`, { onlyNew: false })).status).toBe(200);
    const [, second] = await backfillRows();
    expect(second).toBeDefined();
    release();
    await holding;

    const worker = await e.spawnWorker();
    const read = await waitFor(
      'the new backfill done',
      async () => {
        const r = (await e.api('GET', `/v1/automations/${id}`)).body;
        return r.backfill.status === 'done' && r;
      },
      120_000,
      200,
    );
    expect(read.backfill).toEqual({ status: 'done', enrolled: n, cancelledAt: null });
    expect(await backfillRows()).toEqual([]);
    const keys = await e.t.db
      .selectFrom('enrollments')
      .select(['trigger_event_id', sql<number>`count(*)::int`.as('n'), sql<number>`count(distinct record_id)::int`.as('records')])
      .where('workspace_id', '=', e.t.workspaceId)
      .where('automation_id', '=', id)
      .groupBy('trigger_event_id')
      .execute();
    expect(keys).toEqual([{ trigger_event_id: `backfill:${second!.id}`, n, records: n }]);
    await waitFor('the workflows listed', async () => (await e.temporal.workflow.count(`AutomationId = "${id}"`)).count === n, 60_000, 500);
    worker.kill('SIGTERM');
    await stopped(worker);
  }, 300_000);
});
