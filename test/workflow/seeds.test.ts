/**
 * Seeds 001-004: delay days with weekday / workday / weekend timing and an hour (MiniCRM), steps
 * cancelled by a stage change (scenario: 5 min / 2 h / 6 h after entering a stage), delays counted
 * from the previous action with SMS quiet hours 23:00-07:30 (the Romanian help page), and offsets
 * from the start with the first action at once and later ones between 14:00 and 15:00 New York
 * time, a reply ending the sequence and telling the person in charge (seller leads).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { AutomationDefinition } from '#domain/definition';
import { eventSignal, recordChangedSignal, stateQuery } from '#workflows/signals';
import { input, iso, newWorker, nextAnchor, record, Recorder, skipTo, startEnv, startEnrollment, taskQueue } from './harness';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => {
  await env?.teardown();
});

describe('seed 001: delay days, workday / weekend / weekday timing and an hour', () => {
  const def: AutomationDefinition = {
    name: 'Follow-up sequence (status)',
    trigger: { type: 'stage_entered', stage: 'offer_sent' },
    settings: { timing: 'after_previous' },
    steps: [
      { id: 'e1', type: 'email', template: 'tpl_a', delay: 'P2D', roundDelayToDay: true, window: { days: 'workdays', from: '10:00', to: '11:00' } },
      { id: 's1', type: 'sms', template: 'tpl_sms', delay: 'P1D', roundDelayToDay: true, window: { days: 'weekends', from: '09:00', to: '10:00' } },
      {
        id: 't1',
        type: 'task',
        template: 'tpl_task',
        assignee: { user: 'usr_sales' },
        delay: 'P1D',
        roundDelayToDay: true,
        window: { days: ['wed'], from: '08:00' },
      },
      { id: 'u1', type: 'email_user', to: 'owner', template: 'tpl_staff' },
      { id: 'e2', type: 'email', template: 'tpl_b', delay: 'P1D' },
    ],
  };

  it('Thursday 15:00 + 2 days on workdays at 10 -> Monday 10:00; +1 day on weekends at 9 -> Saturday 09:00; Wednesday 08:00; at once; +1 day', async () => {
    const rec = new Recorder();
    const q = taskQueue('seed001');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 4, '15:00', 'Europe/Budapest');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(def, t0.toJSDate(), { record: record({ timezone: 'Europe/Budapest' }) }));
      expect((await handle.result()).status).toBe('completed');
    });
    const monday10 = t0.plus({ days: 4 }).set({ hour: 10, minute: 0 });
    const saturday9 = monday10.plus({ days: 5 }).set({ hour: 9 });
    const wednesday8 = saturday9.plus({ days: 4 }).set({ hour: 8 });
    expect(monday10.weekday).toBe(1);
    expect(saturday9.weekday).toBe(6);
    expect(wednesday8.weekday).toBe(3);
    expect(rec.sendLog()).toEqual([`e1@${iso(monday10)}`, `s1@${iso(saturday9)}`, `u1@${iso(wednesday8)}`, `e2@${iso(wednesday8.plus({ days: 1 }))}`]);
    expect(rec.sends.find((s) => s.stepId === 'u1')).toMatchObject({ channel: 'email', to: 'owner' });
    expect(rec.tasks).toEqual([expect.objectContaining({ stepId: 't1', assignee: { user: 'usr_sales' } })]);
    expect(rec.steps().find((s) => s.stepId === 't1')!.dueAt).toBe(iso(wednesday8));
  });
});

describe('seed 002: 5 min / 2 h / 6 h after entering a stage, unless the stage changed', () => {
  const base: AutomationDefinition = {
    name: 'Salesperson not assigned',
    trigger: { type: 'stage_entered', stage: 'unassigned' },
    settings: { timing: 'after_start' },
    steps: [
      { id: 'mail5m', type: 'email', template: 'tpl_1', delay: 'PT5M', skipIfChanged: ['stage'] },
      { id: 'mail2h', type: 'email', template: 'tpl_2', delay: 'PT2H', skipIfChanged: ['stage'] },
      { id: 'sms6h', type: 'sms', template: 'tpl_3', delay: 'PT6H', skipIfChanged: ['stage'] },
    ],
  };

  it('stage unchanged: two emails and one SMS at +5 min, +2 h, +6 h', async () => {
    const rec = new Recorder();
    const q = taskQueue('seed002');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 2, '09:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(base, t0.toJSDate(), { record: record({ stage: 'unassigned' }) }));
      expect((await handle.result()).status).toBe('completed');
    });
    expect(rec.sendLog()).toEqual([`mail5m@${iso(t0.plus({ minutes: 5 }))}`, `mail2h@${iso(t0.plus({ hours: 2 }))}`, `sms6h@${iso(t0.plus({ hours: 6 }))}`]);
  });

  it('stage changed after 1 h: the later steps are skipped ("do not execute if the field has changed")', async () => {
    const rec = new Recorder();
    const q = taskQueue('seed002-skip');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 2, '09:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(base, t0.toJSDate(), { record: record({ stage: 'unassigned' }) }));
      await skipTo(env, t0.plus({ hours: 1 }));
      await handle.signal(recordChangedSignal, { id: 'chg_1', changes: { stage: 'quotation' }, at: iso(t0.plus({ hours: 1 })) });
      expect((await handle.result()).status).toBe('completed');
      const state = await handle.query(stateQuery);
      expect(state.timeline.map((e) => `${e.stepId}:${e.status}`)).toEqual(['mail5m:done', 'mail2h:skipped', 'sms6h:skipped']);
    });
    expect(rec.sendLog()).toEqual([`mail5m@${iso(t0.plus({ minutes: 5 }))}`]);
    expect(rec.steps()).toEqual([
      { stepId: 'mail5m', status: 'done', dueAt: iso(t0.plus({ minutes: 5 })) },
      { stepId: 'mail2h', status: 'skipped', dueAt: iso(t0.plus({ hours: 2 })) },
      { stepId: 'sms6h', status: 'skipped', dueAt: iso(t0.plus({ hours: 6 })) },
    ]);
  });

  it('with a fieldChanged exit rule the stage change ends the enrollment at once', async () => {
    const rec = new Recorder();
    const q = taskQueue('seed002-exit');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 2, '09:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(
        env,
        q,
        input({ ...base, exitWhen: [{ fieldChanged: 'stage' }] }, t0.toJSDate(), { record: record({ stage: 'unassigned' }) }),
      );
      await skipTo(env, t0.plus({ hours: 1 }));
      // A change that leaves the stage as it was is not a change.
      await handle.signal(recordChangedSignal, { id: 'chg_same', changes: { stage: 'unassigned', name: 'Ana M.' }, at: iso(t0.plus({ hours: 1 })) });
      expect((await handle.query(stateQuery)).status).toBe('active');
      await handle.signal(recordChangedSignal, { id: 'chg_2', changes: { stage: 'quotation' }, at: iso(t0.plus({ hours: 1 })) });
      expect(await handle.result()).toEqual({ status: 'exited', exitReason: 'field_changed:stage', converted: false });
    });
    expect(rec.sends.map((s) => s.stepId)).toEqual(['mail5m']);
    expect(rec.last()).toMatchObject({ status: 'exited', exitReason: 'field_changed:stage', currentStep: null });
    expect(rec.last().endedAt).toBeTruthy();
  });
});

describe('seed 003: delays from the previous action, SMS quiet hours 23:00-07:30', () => {
  const def: AutomationDefinition = {
    name: 'Secventa de follow-up',
    trigger: { type: 'segment_entered', filter: { field: 'record.stage', op: 'eq', value: 'oferta' } },
    settings: { timing: 'after_previous', timezone: 'Europe/Bucharest', quietHours: { start: '23:00', end: '07:30' } },
    steps: [
      { id: 'email1', type: 'email', template: 'tpl_oferta', delay: 'P1D' },
      { id: 'task5', type: 'task', template: 'tpl_followup', delay: 'P4D' },
      { id: 'sms', type: 'sms', template: 'tpl_livrare', delay: 'PT1H' },
      { id: 'staff', type: 'email_user', to: 'owner', template: 'tpl_info', delay: 'PT30M' },
    ],
  };

  it('email after 1 day, task exactly 5 days after the start, the 23:30 SMS deferred to 07:30 (not dropped)', async () => {
    const rec = new Recorder();
    const q = taskQueue('seed003');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '22:30', 'Europe/Bucharest');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      // No record time zone: the automation's (Europe/Bucharest) applies.
      const { handle } = await startEnrollment(env, q, input(def, t0.toJSDate(), { record: record({ timezone: null }) }));
      expect((await handle.result()).status).toBe('completed');
    });
    const task5 = t0.plus({ days: 5 });
    const smsAt = task5.plus({ days: 1 }).set({ hour: 7, minute: 30 });
    expect(rec.steps().map((s) => `${s.stepId}@${s.dueAt}`)).toEqual([
      `email1@${iso(t0.plus({ days: 1 }))}`,
      `task5@${iso(task5)}`,
      `sms@${iso(smsAt)}`,
      `staff@${iso(smsAt.plus({ minutes: 30 }))}`,
    ]);
    expect(rec.sendLog()).toEqual([`email1@${iso(t0.plus({ days: 1 }))}`, `sms@${iso(smsAt)}`, `staff@${iso(smsAt.plus({ minutes: 30 }))}`]);
    expect(rec.tasks).toHaveLength(1);
  });
});

describe('seed 004: offsets from the start, 14:00-15:00 New York, a reply ends it', () => {
  const window = { from: '14:00', to: '15:00', timezone: 'America/New_York' };
  const def: AutomationDefinition = {
    name: 'Missed Call Followup',
    trigger: { type: 'manual' },
    exitWhen: [{ event: 'message.replied', notify: 'owner' }],
    settings: { timing: 'after_start' },
    steps: [
      { id: 'a1', type: 'sms', template: 'tpl_text' },
      { id: 'a2', type: 'email', template: 'tpl_mail', delay: 'P2D', roundDelayToDay: true, window },
      { id: 'a3', type: 'voicemail', template: 'tpl_rvm', delay: 'P3D', roundDelayToDay: true, window },
      { id: 'a4', type: 'task', template: 'tpl_call', delay: 'P3D', roundDelayToDay: true, window },
    ],
  };

  it('Monday 09:00: action 1 at once, action 2 Wednesday 14:00 ET, actions 3-4 Thursday 14:00 ET', async () => {
    const rec = new Recorder();
    const q = taskQueue('seed004');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '09:00', 'America/New_York');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(def, t0.toJSDate(), { record: record({ timezone: 'Europe/London' }) }));
      expect((await handle.result()).status).toBe('completed');
    });
    const wed = t0.plus({ days: 2 }).set({ hour: 14 });
    const thu = t0.plus({ days: 3 }).set({ hour: 14 });
    expect(rec.sendLog()).toEqual([`a1@${iso(t0)}`, `a2@${iso(wed)}`, `a3@${iso(thu)}`]);
    expect(rec.sends.map((s) => s.channel)).toEqual(['sms', 'email', 'voicemail']);
    expect(rec.steps().find((s) => s.stepId === 'a4')!.dueAt).toBe(iso(thu));
    expect(rec.tasks).toHaveLength(1);
    expect(rec.notifications).toEqual([]);
  });

  it('a reply on Tuesday takes the lead off the sequence and tells the person in charge', async () => {
    const rec = new Recorder();
    const q = taskQueue('seed004-reply');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '09:00', 'America/New_York');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(def, t0.toJSDate()));
      await skipTo(env, t0.plus({ days: 1 }));
      await handle.signal(eventSignal, {
        id: 'evt_reply',
        type: 'message.replied',
        occurredAt: iso(t0.plus({ days: 1 })),
        properties: { channel: 'sms', text: 'call me' },
      });
      expect(await handle.result()).toEqual({ status: 'exited', exitReason: 'event:message.replied', converted: false });
    });
    expect(rec.sends.map((s) => s.stepId)).toEqual(['a1']);
    expect(rec.tasks).toEqual([]);
    expect(rec.notifications).toHaveLength(1);
    expect(rec.notifications[0]).toMatchObject({
      notify: 'owner',
      ownerId: 'usr_owner',
      reason: 'event:message.replied',
      context: { event: { id: 'evt_reply' } },
    });
  });
});
