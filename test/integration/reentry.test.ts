/**
 * Re-entry (`settings.reentry`, docs/design.md §4.4) for every trigger type, table-driven: for each trigger
 * (event, stage_entered, segment_entered, date, inactivity, manual) and each mode (`once`,
 * `after_exit`, `always`), one automation and one record: the trigger fires, fires again while the
 * record is enrolled, the record is unenrolled, and the trigger fires a third time. The modes allow
 * exactly: once 1 enrollment, after_exit 2 (not while enrolled), always 3 (one while enrolled).
 * Router triggers are known to be handled once the record's outbox rows are gone; date and
 * inactivity ones once the sweep's mark (its Temporal Schedule, every 10 s here) has passed the
 * moment the occurrence fell due. Each mode has triggers of its own (event type, stage, attribute,
 * date field), so that one mode's firing never reaches another's automation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepScheduleId } from '#engine/sweep-schedules';
import { sweptUntil } from '#db/sweeps';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

let e: EngineTest;
beforeAll(async () => {
  e = await startEngineTest({ env: { SWEEP_INTERVAL: 'PT10S' } });
});
afterAll(async () => {
  await e?.temporal.schedule
    .getHandle(sweepScheduleId(e.t.workspaceId))
    .delete()
    .catch(() => undefined);
  await e?.close();
});

const MODES = ['once', 'after_exit', 'always'] as const;
type Mode = (typeof MODES)[number];
const DAY = 86_400_000;

interface Case {
  automation: string;
  record: string;
}

interface TriggerCase {
  type: string;
  trigger(mode: Mode): Record<string, unknown>;
  /** Fires the trigger for the record for the n-th time (1, 2, 3); resolves once it was handled. */
  fire(c: Case, mode: Mode, n: number): Promise<void>;
}

async function routed(recordId: string): Promise<void> {
  // The router deletes a row once done: every change and event of the record handled.
  await waitFor(`${recordId}'s rows routed`, async () => {
    const left = await e.t.db.selectFrom('outbox').select('id').where('workspace_id', '=', e.t.workspaceId).where('record_id', '=', recordId).execute();
    return left.length === 0;
  });
}

/** Waits until a sweep of the automation has covered `at` (its mark moves once a whole span is done). */
async function sweptPast(automationId: string, at: number): Promise<void> {
  await waitFor('a sweep past the occurrence', async () => ((await sweptUntil(e.t.db, e.t.workspaceId, automationId))?.getTime() ?? 0) > at, 90_000, 250);
}

async function api(method: string, path: string, body?: unknown, expected: number[] = [200, 201, 202]) {
  const res = await e.api(method, path, body);
  expect(expected, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`).toContain(res.status);
  return res;
}

const TRIGGERS: TriggerCase[] = [
  {
    type: 'event',
    trigger: (mode) => ({ type: 'event', event: `ping.${mode}` }),
    async fire(c, mode, n) {
      await api('POST', '/v1/events', { id: `${c.record}-ping-${n}`, type: `ping.${mode}`, recordId: c.record, properties: {} });
      await routed(c.record);
    },
  },
  {
    type: 'stage_entered',
    trigger: (mode) => ({ type: 'stage_entered', stage: `won_${mode}` }),
    async fire(c, mode) {
      await putRecord(e, c.record, { stage: 'open' });
      await putRecord(e, c.record, { stage: `won_${mode}` });
      await routed(c.record);
    },
  },
  {
    type: 'segment_entered',
    trigger: (mode) => ({ type: 'segment_entered', filter: { field: `record.attributes.hot_${mode}`, op: 'eq', value: true } }),
    async fire(c, mode) {
      await putRecord(e, c.record, { attributes: { [`hot_${mode}`]: false } });
      await putRecord(e, c.record, { attributes: { [`hot_${mode}`]: true } });
      await routed(c.record);
    },
  },
  {
    type: 'date',
    // "7 days before renewal", each firing a new renewal date due 3 seconds from now.
    trigger: (mode) => ({ type: 'date', field: `record.attributes.renews_${mode}`, offset: '-P7D' }),
    async fire(c, mode) {
      const due = Date.now() + 3_000;
      await putRecord(e, c.record, { timezone: 'UTC', attributes: { [`renews_${mode}`]: new Date(due + 7 * DAY).toISOString() } });
      await routed(c.record);
      await sweptPast(c.automation, due);
    },
  },
  {
    type: 'inactivity',
    // "No visit in 60 days", each firing a visit that turns 60 days old 3 seconds from now.
    trigger: (mode) => ({ type: 'inactivity', event: `visit.${mode}`, after: 'P60D' }),
    async fire(c, mode, n) {
      const due = Date.now() + 3_000;
      const occurredAt = new Date(due - 60 * DAY).toISOString();
      await api('POST', '/v1/events', { id: `${c.record}-visit-${n}`, type: `visit.${mode}`, recordId: c.record, occurredAt, properties: {} });
      await routed(c.record);
      await sweptPast(c.automation, due);
    },
  },
  {
    type: 'manual',
    trigger: () => ({ type: 'manual' }),
    async fire(c) {
      // A refusal by re-entry is answered 409.
      await api('POST', `/v1/automations/${c.automation}/enrollments`, { recordId: c.record }, [201, 409]);
    },
  },
];

/** What each mode allows after: fired, fired again while enrolled, unenrolled, fired again. */
const EXPECTED: Record<Mode, string[]> = {
  once: ['exited'],
  after_exit: ['exited', 'active'],
  always: ['exited', 'exited', 'active'],
};

async function enrollmentsOf(c: Case) {
  return e.t.db
    .selectFrom('enrollments')
    .select(['id', 'seq', 'status', 'record_id'])
    .where('workspace_id', '=', e.t.workspaceId)
    .where('automation_id', '=', c.automation)
    .orderBy('seq')
    .execute();
}

async function unenrollAll(c: Case): Promise<void> {
  for (const x of await enrollmentsOf(c)) {
    if (x.status === 'active') await api('POST', `/v1/enrollments/${x.id}/exit`);
  }
  await waitFor(`${c.record} unenrolled`, async () => (await enrollmentsOf(c)).every((x) => x.status === 'exited'));
}

describe('re-entry', () => {
  for (const t of TRIGGERS) {
    it(`${t.type}: once 1, after_exit 2, always 3 enrollments (fired, fired while enrolled, unenrolled, fired again)`, async () => {
      const cases = new Map<Mode, Case>();
      for (const mode of MODES) {
        const record = `re-${t.type}-${mode}`;
        await putRecord(e, record, { timezone: 'UTC' });
        await routed(record);
        const { id } = await createAutomation(
          e,
          {
            name: `Re-entry ${t.type} ${mode}`,
            trigger: t.trigger(mode),
            settings: { reentry: mode },
            steps: [
              { id: 'rest', type: 'wait', duration: 'P30D' },
              { id: 'hello', type: 'email', to: 'record', template: 'tpl_reentry' },
            ],
          },
          { templates: [{ id: 'tpl_reentry' }] },
        );
        cases.set(mode, { automation: id, record });
      }
      const all = (fn: (c: Case, mode: Mode) => Promise<void>) => Promise.all(MODES.map((mode) => fn(cases.get(mode)!, mode)));

      await all((c, mode) => t.fire(c, mode, 1));
      await all(async (c) => void (await waitFor(`${c.record} enrolled`, async () => (await enrollmentsOf(c)).length === 1)));
      await all((c, mode) => t.fire(c, mode, 2));
      await all(async (c, mode) => {
        const statuses = (await enrollmentsOf(c)).map((x) => x.status);
        expect(statuses, `${t.type} ${mode}, fired again while enrolled`).toEqual(mode === 'always' ? ['active', 'active'] : ['active']);
      });
      await all((c) => unenrollAll(c));
      await all((c, mode) => t.fire(c, mode, 3));
      await all(async (c, mode) => {
        const rows = await enrollmentsOf(c);
        expect(
          rows.map((x) => x.status),
          `${t.type} ${mode}, fired again after exit`,
        ).toEqual(EXPECTED[mode]);
        expect(rows.map((x) => [x.record_id, x.seq])).toEqual(EXPECTED[mode].map((_, i) => [c.record, i + 1]));
      });
      // Each enrollment is one workflow on the server, the last one still running where allowed.
      await all(async (c, mode) => {
        const expectedCount = EXPECTED[mode].length;
        await waitFor(
          `${c.record}'s workflows`,
          async () => (await e.temporal.workflow.count(`AutomationId = "${c.automation}"`)).count === expectedCount,
          30_000,
          500,
        );
        const running = (await e.temporal.workflow.count(`AutomationId = "${c.automation}" AND ExecutionStatus = "Running"`)).count;
        expect(running, `${t.type} ${mode}: running workflows`).toBe(mode === 'once' ? 0 : 1);
      });
    }, 240_000);
  }
});
