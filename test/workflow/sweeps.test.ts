/**
 * Date and inactivity triggers end to end on the time-skipping test server and the real
 * PostgreSQL: the seeds' renewal reminder (7 days before the renewal date, at 09:00 local) and
 * reactivation (no booking in 60 days, at least one booking). The time-skipping server does not
 * run Schedules (checked below), so the test drives the sweep workflow the way the workspace's
 * Schedule does, at moments it chooses; test/integration/sweep-schedule.test.ts checks the
 * Schedule itself on the dev server. Sends are counted at the enrollment workflow's activities.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { Client } from '@temporalio/client';
import { createDb, type Db } from '#db/connection';
import { insertAutomation, setAutomationStatus } from '#db/automations';
import { ingestEvents } from '#db/events';
import { upsertRecord } from '#db/records';
import { insertTemplate } from '#db/templates';
import { createWorkspaceWithKey } from '#db/workspaces';
import type { SendMessageRequest } from '#activities/index';
import type { SweepOutcome } from '#domain/commands';
import { sweepActivities } from '#engine/sweeper';
import type { AutomationDefinition } from '#domain/definition';
import { Enroller } from '#engine/enroller';
import { SWEEP_WORKFLOW } from '#engine/sweep-schedules';
import type { sweepWorkflow } from '#workflows/sweep';
import { testDatabaseUrl } from '../helpers/env';
import { Recorder, skipTo, startEnv, taskQueue as newQueue, workflowBundle } from './harness';

let env: TestWorkflowEnvironment;
let plain: Client;
let db: Db;
let ws: string;
let queue: string;
let recorder: Recorder;
let worker: Worker;
let running: Promise<void>;
let serverNow = Date.now();
let sweeps = 0;

const sends: Array<Pick<SendMessageRequest, 'stepId' | 'recordId'>> = [];
const sentTo = (stepId: string) =>
  sends
    .filter((s) => s.stepId === stepId)
    .map((s) => s.recordId)
    .sort();

const silent = { info() {}, warn() {}, error() {}, debug() {} };

async function now(): Promise<DateTime> {
  serverNow = await env.currentTimeMs();
  return DateTime.fromMillis(serverNow, { zone: 'UTC' });
}

async function at(when: DateTime): Promise<void> {
  await skipTo(env, when);
  await now();
}

/** One run of the workspace's sweep workflow, as its Schedule starts it, at the server's current time. */
async function sweep(): Promise<SweepOutcome[]> {
  sweeps++;
  // A plain client: waiting for the result must not let the test server skip time ahead.
  return plain.workflow.execute<typeof sweepWorkflow>(SWEEP_WORKFLOW, {
    workflowId: `sweep/${ws}/${sweeps}`,
    taskQueue: queue,
    args: [{ workspaceId: ws }],
  });
}

async function enrollments(automationId: string) {
  return db
    .selectFrom('enrollments')
    .select(['record_id', 'trigger_event_id', 'seq'])
    .where('workspace_id', '=', ws)
    .where('automation_id', '=', automationId)
    .orderBy('record_id')
    .orderBy('seq')
    .execute();
}

async function activate(id: string, definition: AutomationDefinition, templateId: string, onlyNew = true): Promise<void> {
  await insertAutomation(db, ws, { id, definition, templateVersions: { [templateId]: 1 } });
  await setAutomationStatus(db, ws, id, { status: 'active', onlyNew, activated: true });
  // Activated "now" on the test server's clock, which runs ahead of the wall clock.
  await db
    .updateTable('automations')
    .set({ activated_at: new Date(serverNow) })
    .where('id', '=', id)
    .execute();
}

beforeAll(async () => {
  env = await startEnv();
  plain = new Client({ connection: env.connection });
  db = createDb(testDatabaseUrl(), { max: 5 });
  ws = (await createWorkspaceWithKey(db, { name: `sweeps-${Date.now()}`, timezone: 'Europe/Bucharest' })).id;
  await insertTemplate(db, ws, { id: 'tpl_renewal', name: 'Renewal', channel: 'email', content: { subject: 'Your renewal', text: 'Renews soon' } });
  await insertTemplate(db, ws, { id: 'tpl_miss_you', name: 'We miss you', channel: 'email', content: { subject: 'We miss you', text: '10% off' } });
  queue = newQueue('sweeps');
  recorder = new Recorder();
  const enroller = new Enroller({ db, temporal: env.client, taskQueue: queue, now: () => new Date(serverNow) });
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: queue,
    workflowBundle: await workflowBundle(),
    activities: {
      ...recorder.activities,
      // Who each first-time send went to (the recorder keeps steps and times, not records).
      sendMessage: async (r: SendMessageRequest) => {
        const result = await recorder.activities.sendMessage(r);
        if (!result.duplicate) sends.push({ stepId: r.stepId, recordId: r.recordId });
        return result;
      },
      ...sweepActivities({ db, enroller, logger: silent, pageSize: 2 }),
    },
  });
  running = worker.run();
  await now();
});

afterAll(async () => {
  worker?.shutdown();
  await running?.catch(() => undefined);
  await env?.teardown();
  await db?.destroy();
});

it('the time-skipping test server has no Schedules (hence the sweeps driven by the test)', async () => {
  await expect(
    env.client.schedule.create({
      scheduleId: `probe-${Date.now()}`,
      spec: { intervals: [{ every: '5m' }] },
      action: { type: 'startWorkflow', workflowType: SWEEP_WORKFLOW, taskQueue: queue, args: [{ workspaceId: ws }] },
    }),
  ).rejects.toThrow();
});

describe('renewal reminder (seed 000): 7 days before the renewal date, at 09:00 local', () => {
  const id = 'aut_renewal';
  const definition: AutomationDefinition = {
    name: 'Subscription renewal reminder',
    trigger: { type: 'date', field: 'record.attributes.renewal_date', offset: '-P7D', at: '09:00' },
    steps: [{ id: 'remind', type: 'email', to: 'record', template: 'tpl_renewal' }],
  };
  let renewal: DateTime;
  let fireAt: DateTime;

  beforeAll(async () => {
    const today = await now();
    renewal = today.setZone('Europe/Bucharest').plus({ days: 20 }).startOf('day');
    // 7 days before, at 09:00 in the record's zone.
    fireAt = renewal.minus({ days: 7 }).set({ hour: 9 });
    await activate(id, definition, 'tpl_renewal');
    await upsertRecord(db, ws, 'sub_ana', { timezone: 'Europe/Bucharest', email: 'ana@example.com', attributes: { renewal_date: renewal.toISODate() } });
    await upsertRecord(db, ws, 'sub_ny', { timezone: 'America/New_York', email: 'ny@example.com', attributes: { renewal_date: renewal.toISODate() } });
    await upsertRecord(db, ws, 'sub_moved', { timezone: 'Europe/Bucharest', email: 'moved@example.com', attributes: { renewal_date: renewal.toISODate() } });
    // Five more renewing the same day: more than one page of candidates (page size 2).
    for (let i = 0; i < 5; i++) {
      await upsertRecord(db, ws, `sub_${i}`, { timezone: 'Europe/Bucharest', email: `s${i}@example.com`, attributes: { renewal_date: renewal.toISODate() } });
    }
    await upsertRecord(db, ws, 'sub_later', {
      timezone: 'Europe/Bucharest',
      email: 'later@example.com',
      attributes: { renewal_date: renewal.plus({ days: 40 }).toISODate() },
    });
  });

  it('enrolls nobody before 09:00 local seven days before', async () => {
    await at(fireAt.minus({ minutes: 10 }));
    await sweep();
    expect(await enrollments(id)).toEqual([]);
  });

  it('enrolls each record once at 09:00 in its own zone, with the date as the occurrence key; a date moved before then does not fire', async () => {
    await upsertRecord(db, ws, 'sub_moved', { attributes: { renewal_date: renewal.plus({ days: 10 }).toISODate() } });
    await at(fireAt.plus({ minutes: 1 }));
    const [outcome] = await sweep();
    expect(outcome).toMatchObject({ automationId: id, due: 6, started: 6 });
    const key = `date:${renewal.toISODate()}`;
    expect(await enrollments(id)).toEqual(
      ['sub_0', 'sub_1', 'sub_2', 'sub_3', 'sub_4', 'sub_ana'].map((r) => ({ record_id: r, trigger_event_id: key, seq: 1 })),
    );
    // New York's 09:00 is seven hours later than Bucharest's.
    await at(fireAt.setZone('America/New_York', { keepLocalTime: true }).plus({ minutes: 1 }));
    await sweep();
    expect((await enrollments(id)).map((e) => e.record_id)).toContain('sub_ny');
    await env.sleep('1m');
    expect(sentTo('remind')).toEqual(['sub_0', 'sub_1', 'sub_2', 'sub_3', 'sub_4', 'sub_ana', 'sub_ny']);
  });

  it('a sweep running twice over the same records (its mark lost) enrolls nobody again', async () => {
    await db.deleteFrom('automation_sweeps').where('workspace_id', '=', ws).where('automation_id', '=', id).execute();
    await db
      .updateTable('automations')
      .set({ activated_at: fireAt.minus({ hours: 1 }).toJSDate() })
      .where('id', '=', id)
      .execute();
    const before = await enrollments(id);
    const [again] = await sweep();
    expect(again).toMatchObject({ due: 7, started: 0 });
    expect(await enrollments(id)).toEqual(before);
    await env.sleep('1m');
    expect(sentTo('remind')).toHaveLength(7);
  });

  it('the moved date fires once on its own day, the old one never did', async () => {
    const moved = renewal.plus({ days: 10 });
    await at(moved.minus({ days: 7 }).set({ hour: 9, minute: 1 }));
    await sweep();
    await sweep();
    const rows = (await enrollments(id)).filter((e) => e.record_id === 'sub_moved');
    expect(rows).toEqual([{ record_id: 'sub_moved', trigger_event_id: `date:${moved.toISODate()}`, seq: 1 }]);
    expect((await enrollments(id)).filter((e) => e.record_id === 'sub_later')).toEqual([]);
  });
});

describe('reactivation (seed 000): no booking in 60 days, at least one completed booking', () => {
  const id = 'aut_reactivation';
  const definition: AutomationDefinition = {
    name: 'Reactivation campaign',
    trigger: { type: 'inactivity', event: 'booking.completed', after: 'P60D' },
    conditions: {
      all: [
        { eventCount: { event: 'booking.completed' }, op: 'gte', value: 1 },
        { field: 'record.attributes.deactivated', op: 'neq', value: true },
      ],
    },
    steps: [{ id: 'miss_you', type: 'email', to: 'record', template: 'tpl_miss_you' }],
  };
  let t0: DateTime;

  const book = (recordId: string, eventId: string, when: DateTime) =>
    ingestEvents(db, ws, [{ id: eventId, type: 'booking.completed', recordId, occurredAt: when.toUTC().toISO()!, properties: {} }]);

  beforeAll(async () => {
    t0 = await now();
    await activate(id, definition, 'tpl_miss_you');
    for (const r of ['cust_quiet', 'cust_back', 'cust_deactivated']) {
      await upsertRecord(db, ws, r, {
        email: `${r}@example.com`,
        timezone: 'Europe/Bucharest',
        attributes: r === 'cust_deactivated' ? { deactivated: true } : {},
      });
      await book(r, `bk_${r}_1`, t0);
    }
    await upsertRecord(db, ws, 'cust_never', { email: 'never@example.com' });
  });

  it('a booking before the limit resets it; a quiet customer enters once, 60 days after the last booking', async () => {
    await at(t0.plus({ days: 30 }));
    await book('cust_back', 'bk_cust_back_2', t0.plus({ days: 30 }));
    await sweep();
    expect(await enrollments(id)).toEqual([]);

    await at(t0.plus({ days: 60, minutes: 5 }));
    await sweep();
    await sweep();
    expect(await enrollments(id)).toEqual([{ record_id: 'cust_quiet', trigger_event_id: 'inactivity:bk_cust_quiet_1', seq: 1 }]);

    await at(t0.plus({ days: 90, minutes: 5 }));
    await sweep();
    expect(await enrollments(id)).toEqual([
      { record_id: 'cust_back', trigger_event_id: 'inactivity:bk_cust_back_2', seq: 1 },
      { record_id: 'cust_quiet', trigger_event_id: 'inactivity:bk_cust_quiet_1', seq: 1 },
    ]);
    await env.sleep('1m');
    expect(sentTo('miss_you')).toEqual(['cust_back', 'cust_quiet']);
  });
});

describe('onlyNew: false: the first sweep enrolls the records that already match (a backfill through the sweep)', () => {
  const remind: AutomationDefinition['steps'] = [{ id: 'remind', type: 'email', to: 'record', template: 'tpl_renewal' }];
  const dateDefinition: AutomationDefinition = {
    name: 'Contract ends in 7 days',
    trigger: { type: 'date', field: 'record.attributes.contract_end', offset: '-P7D' },
    steps: remind,
  };
  const inactivityDefinition: AutomationDefinition = {
    name: 'No class in 60 days',
    trigger: { type: 'inactivity', event: 'class.attended', after: 'P60D' },
    steps: remind,
  };
  let today: DateTime;
  let t0: DateTime;

  beforeAll(async () => {
    t0 = await now();
    today = t0.startOf('day');
    const ends = (days: number) => today.plus({ days }).toISODate()!;
    // Ends in 3 days (within the 7-day window: it would have entered 4 days ago), in 10 days
    // (enters in 3 days), and 2 days ago (its moment has passed, outside the window).
    await upsertRecord(db, ws, 'ct_soon', { timezone: 'UTC', email: 'soon@example.com', attributes: { contract_end: ends(3) } });
    await upsertRecord(db, ws, 'ct_later', { timezone: 'UTC', email: 'later@example.com', attributes: { contract_end: ends(10) } });
    await upsertRecord(db, ws, 'ct_past', { timezone: 'UTC', email: 'past@example.com', attributes: { contract_end: ends(-2) } });
    // Last class 90 days ago (inactive already), 30 days ago (inactive in 30 days), and never.
    const attended = (recordId: string, daysAgo: number) =>
      ingestEvents(db, ws, [
        { id: `cls_${recordId}`, type: 'class.attended', recordId, occurredAt: t0.minus({ days: daysAgo }).toUTC().toISO()!, properties: {} },
      ]);
    for (const r of ['gym_gone', 'gym_recent', 'gym_never']) await upsertRecord(db, ws, r, { timezone: 'UTC', email: `${r}@example.com` });
    await attended('gym_gone', 90);
    await attended('gym_recent', 30);
    // The same triggers activated with onlyNew: true, for contrast: only what happens from now on.
    await activate('aut_contract_all', dateDefinition, 'tpl_renewal', false);
    await activate('aut_contract_new', dateDefinition, 'tpl_renewal', true);
    await activate('aut_gym_all', inactivityDefinition, 'tpl_renewal', false);
    await activate('aut_gym_new', inactivityDefinition, 'tpl_renewal', true);
  });

  it('the first sweep enrolls the contract ending within the window and the member already inactive; onlyNew: true does not', async () => {
    await sweep();
    expect(await enrollments('aut_contract_all')).toEqual([{ record_id: 'ct_soon', trigger_event_id: `date:${today.plus({ days: 3 }).toISODate()}`, seq: 1 }]);
    expect(await enrollments('aut_gym_all')).toEqual([{ record_id: 'gym_gone', trigger_event_id: 'inactivity:cls_gym_gone', seq: 1 }]);
    expect(await enrollments('aut_contract_new')).toEqual([]);
    expect(await enrollments('aut_gym_new')).toEqual([]);
  });

  it('later sweeps add the records as their moments come, once, in both', async () => {
    await at(today.plus({ days: 3, minutes: 1 }));
    await sweep();
    await sweep();
    const later = { record_id: 'ct_later', trigger_event_id: `date:${today.plus({ days: 10 }).toISODate()}`, seq: 1 };
    expect(await enrollments('aut_contract_all')).toEqual([
      later,
      { record_id: 'ct_soon', trigger_event_id: `date:${today.plus({ days: 3 }).toISODate()}`, seq: 1 },
    ]);
    expect(await enrollments('aut_contract_new')).toEqual([later]);

    await at(t0.plus({ days: 30, minutes: 5 }));
    await sweep();
    const recent = { record_id: 'gym_recent', trigger_event_id: 'inactivity:cls_gym_recent', seq: 1 };
    expect(await enrollments('aut_gym_all')).toEqual([{ record_id: 'gym_gone', trigger_event_id: 'inactivity:cls_gym_gone', seq: 1 }, recent]);
    expect(await enrollments('aut_gym_new')).toEqual([recent]);
  });
});
