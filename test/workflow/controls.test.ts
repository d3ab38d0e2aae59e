/**
 * Signals and long runs: pause and resume (a paused enrollment holds before its next step), manual
 * exit, duplicate events ignored, the A/B variant stable across steps, search attributes kept
 * current, and a quarterly check-in loop that continues as new while keeping its state.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { AutomationDefinition } from '#domain/definition';
import { eventSignal, exitSignal, pauseSignal, recordChangedSignal, resumeSignal, stateQuery } from '#workflows/signals';
import { EnrollmentSearchAttributes } from '#workflows/signals';
import { input, iso, newWorker, nextAnchor, Recorder, skipTo, startEnv, startEnrollment, taskQueue } from './harness';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const daily: AutomationDefinition = {
  name: 'Daily three',
  trigger: { type: 'manual' },
  settings: { timing: 'after_previous' },
  steps: [
    { id: 'd1', type: 'email', template: 'tpl_1' },
    { id: 'd2', type: 'email', template: 'tpl_2', delay: 'P1D' },
    { id: 'd3', type: 'email', template: 'tpl_3', delay: 'P1D' },
  ],
};

describe('pause, resume, exit', () => {
  it('paused on day 0.5, nothing is sent while paused; on resume at day 3 the due step runs at once and the next one a day later', async () => {
    const rec = new Recorder();
    const q = taskQueue('pause');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(daily, t0.toJSDate()));
      await skipTo(env, t0.plus({ hours: 12 }));
      await handle.signal(pauseSignal);
      await skipTo(env, t0.plus({ days: 3 }));
      const paused = await handle.query(stateQuery);
      expect(paused).toMatchObject({ status: 'paused', currentStep: 'd2' });
      expect(rec.sends.map((s) => s.stepId)).toEqual(['d1']);
      expect(rec.last()).toMatchObject({ status: 'paused', currentStep: 'd2' });
      await handle.signal(resumeSignal);
      expect((await handle.result()).status).toBe('completed');
    });
    expect(rec.sends.map((s) => s.stepId)).toEqual(['d1', 'd2', 'd3']);
    const d2 = Date.parse(rec.sends[1]!.at);
    expect(d2).toBeGreaterThanOrEqual(t0.plus({ days: 3 }).toMillis());
    expect(d2).toBeLessThan(t0.plus({ days: 3, minutes: 5 }).toMillis());
    expect(Date.parse(rec.sends[2]!.at)).toBe(d2 + 86_400_000);
    const statuses = rec.progress.map((p) => p.status);
    expect(statuses).toContain('paused');
    expect(statuses.lastIndexOf('paused')).toBeLessThan(statuses.lastIndexOf('active'));
  });

  it('a pause that arrives while the first progress write is running is recorded before the wait', async () => {
    const rec = new Recorder();
    let firstWrite: () => void = () => {};
    const firstWriteStarted = new Promise<void>((started) => {
      let calls = 0;
      const release = new Promise<void>((r) => (firstWrite = r));
      const recordProgress = rec.activities.recordProgress;
      rec.activities.recordProgress = async (u) => {
        calls += 1;
        if (calls === 1) {
          started();
          await release;
        }
        return recordProgress(u);
      };
    });
    const q = taskQueue('pause-race');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    const waitFirst: AutomationDefinition = { ...daily, steps: [{ id: 'w', type: 'wait', duration: 'P1D' }, ...daily.steps] };
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(waitFirst, t0.toJSDate()));
      await firstWriteStarted;
      await handle.signal(pauseSignal);
      firstWrite();
      // The row must say paused while the enrollment waits, not only at its next step a day later.
      for (let i = 0; i < 100 && rec.progress.at(-1)?.status !== 'paused'; i++) await new Promise((r) => setTimeout(r, 100));
      expect(rec.last()).toMatchObject({ status: 'paused' });
      await handle.signal(exitSignal, { reason: 'manual' });
      await handle.result();
    });
    expect(rec.sends).toEqual([]);
  });

  it('manual exit ends it with reason "manual"; nothing further is sent', async () => {
    const rec = new Recorder();
    const q = taskQueue('exit');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(daily, t0.toJSDate()));
      await skipTo(env, t0.plus({ hours: 12 }));
      await handle.signal(exitSignal, { reason: 'manual' });
      expect(await handle.result()).toEqual({ status: 'exited', exitReason: 'manual', converted: false });
      const state = await handle.query(stateQuery);
      expect(state).toMatchObject({ status: 'exited', currentStep: null, exitReason: 'manual' });
    });
    expect(rec.sends.map((s) => s.stepId)).toEqual(['d1']);
    expect(rec.last()).toMatchObject({ status: 'exited', exitReason: 'manual', currentStep: null });
    expect(rec.notifications).toEqual([]);
  });

  it('search attributes follow the status and the current step', async () => {
    const rec = new Recorder();
    const q = taskQueue('attrs');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const run = await startEnrollment(env, q, input(daily, t0.toJSDate(), { version: 3 }));
      await skipTo(env, t0.plus({ hours: 1 }));
      let attrs = (await run.handle.describe()).typedSearchAttributes;
      expect(attrs.get(EnrollmentSearchAttributes.CurrentStep)).toBe('d2');
      expect(attrs.get(EnrollmentSearchAttributes.EnrollmentStatus)).toBe('active');
      expect(attrs.get(EnrollmentSearchAttributes.AutomationVersion)).toBe(3);
      expect(attrs.get(EnrollmentSearchAttributes.WorkspaceId)).toBe(run.input.workspaceId);
      expect(attrs.get(EnrollmentSearchAttributes.RecordId)).toBe('rec_1');
      await run.handle.result();
      attrs = (await run.handle.describe()).typedSearchAttributes;
      expect(attrs.get(EnrollmentSearchAttributes.EnrollmentStatus)).toBe('completed');
    });
  });
});

describe('events', () => {
  const counting: AutomationDefinition = {
    name: 'Counting',
    trigger: { type: 'manual' },
    steps: [
      { id: 'w', type: 'wait', duration: 'P1D' },
      { id: 'b', type: 'branch', cases: [{ when: { eventCount: { event: 'ping' }, op: 'eq', value: 1 }, next: 'one' }], otherwise: 'many' },
      { id: 'one', type: 'email', template: 'tpl_one', next: 'end' },
      { id: 'many', type: 'email', template: 'tpl_many' },
    ],
  };

  it('an event delivered three times (same id) counts once', async () => {
    const rec = new Recorder();
    const q = taskQueue('dupes');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(counting, t0.toJSDate()));
      const ping = { id: 'evt_ping', type: 'ping', occurredAt: iso(t0), properties: {} };
      await handle.signal(eventSignal, ping);
      await handle.signal(eventSignal, ping);
      await skipTo(env, t0.plus({ hours: 1 }));
      await handle.signal(eventSignal, ping);
      await handle.result();
    });
    expect(rec.sends.map((s) => s.stepId)).toEqual(['one']);
  });

  it('two distinct events count twice', async () => {
    const rec = new Recorder();
    const q = taskQueue('distinct');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(counting, t0.toJSDate()));
      await handle.signal(eventSignal, { id: 'evt_p1', type: 'ping', occurredAt: iso(t0), properties: {} });
      await handle.signal(eventSignal, { id: 'evt_p2', type: 'ping', occurredAt: iso(t0), properties: {} });
      await handle.result();
    });
    expect(rec.sends.map((s) => s.stepId)).toEqual(['many']);
  });
});

describe('A/B variants', () => {
  const ab: AutomationDefinition = {
    name: 'A/B',
    trigger: { type: 'manual' },
    steps: [
      { id: 'first', type: 'email', variants: [{ template: 'tpl_a1' }, { template: 'tpl_b1' }] },
      { id: 'second', type: 'email', variants: [{ template: 'tpl_a2' }, { template: 'tpl_b2' }], delay: 'P1D' },
    ],
  };

  for (const letter of ['A', 'B'] as const) {
    it(`variant ${letter} gets its side in every step`, async () => {
      const rec = new Recorder();
      const q = taskQueue(`ab-${letter}`);
      const worker = await newWorker(env, rec, q);
      const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
      await skipTo(env, t0);
      await worker.runUntil(async () => {
        const { handle } = await startEnrollment(env, q, input(ab, t0.toJSDate(), { variant: letter }));
        await handle.result();
      });
      const side = letter.toLowerCase();
      expect(rec.sends.map((s) => [s.templateId, s.variant])).toEqual([
        [`tpl_${side}1`, letter],
        [`tpl_${side}2`, letter],
      ]);
      expect(rec.progress.every((p) => p.variant === letter)).toBe(true);
    });
  }
});

describe('continue-as-new', () => {
  const quarterly: AutomationDefinition = {
    name: 'Quarterly check-ins',
    trigger: { type: 'manual' },
    exitWhen: [{ event: 'booking.completed' }],
    steps: [
      { id: 'checkin', type: 'email', template: 'tpl_checkin' },
      { id: 'quarter', type: 'wait', duration: 'P3M', next: 'checkin' },
    ],
  };

  it('a looping sequence continues as new every few steps and keeps its cursor, visits and dedupe state', async () => {
    const rec = new Recorder();
    const q = taskQueue('can');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(quarterly, t0.toJSDate()), { stepsPerRun: 3 });
      const firstRunId = (await handle.describe()).runId;
      await handle.signal(eventSignal, { id: 'evt_other', type: 'other', occurredAt: iso(t0), properties: {} });
      await skipTo(env, t0.plus({ months: 21, days: 1 }));
      const desc = await handle.describe();
      expect(desc.runId).not.toBe(firstRunId);
      expect(desc.status.name).toBe('RUNNING');
      const state = await handle.query(stateQuery);
      expect(state.status).toBe('active');
      expect(state.timeline.filter((e) => e.status === 'done').length).toBeGreaterThan(3);
      await handle.signal(eventSignal, { id: 'evt_book', type: 'booking.completed', occurredAt: iso(t0), properties: {} });
      expect(await handle.result()).toEqual({ status: 'exited', exitReason: 'event:booking.completed', converted: false });
      const first = env.client.workflow.getHandle(handle.workflowId, firstRunId);
      expect((await first.describe()).status.name).toBe('CONTINUED_AS_NEW');
    });
    // each wait counts three months from the check-in before it, so a day clamped at a month's end stays
    // clamped (31 Dec, 31 Mar, 30 Jun, 30 Sep, 30 Dec): the anchor is the test server's clock, any day
    const dueTimes = [t0];
    while (dueTimes.length < 8) dueTimes.push(dueTimes.at(-1)!.plus({ months: 3 }));
    const expected = dueTimes.map((t) => `checkin@${iso(t)}`);
    expect(rec.sendLog()).toEqual(expected);
    // visits carried over: every check-in has its own idempotency key
    expect(new Set(rec.sends.map((s) => s.key)).size).toBe(8);
    expect(rec.sends[7]!.key).toMatch(/:checkin:8$/);
  });
});

describe('wait_for where, goals on conditions, exit steps, failures', () => {
  it('wait_for ends only on an event matching `where`; that event is `event.*` for the branch after it', async () => {
    const def: AutomationDefinition = {
      name: 'Where',
      trigger: { type: 'manual' },
      steps: [
        { id: 'wf', type: 'wait_for', event: 'form.submitted', where: { field: 'event.form', op: 'eq', value: 'quote' }, timeout: 'P2D', onTimeout: 'late' },
        { id: 'b', type: 'branch', cases: [{ when: { field: 'event.budget', op: 'gte', value: 1000 }, next: 'big' }], otherwise: 'small' },
        { id: 'big', type: 'task', template: 'tpl_big', priority: 'high', next: 'end' },
        { id: 'small', type: 'email', template: 'tpl_small', next: 'end' },
        { id: 'late', type: 'email', template: 'tpl_late' },
      ],
    };
    const rec = new Recorder();
    const q = taskQueue('where');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(def, t0.toJSDate()));
      await handle.signal(eventSignal, { id: 'f1', type: 'form.submitted', occurredAt: iso(t0), properties: { form: 'newsletter', budget: 5000 } });
      await skipTo(env, t0.plus({ hours: 5 }));
      expect((await handle.query(stateQuery)).currentStep).toBe('wf');
      await handle.signal(eventSignal, {
        id: 'f2',
        type: 'form.submitted',
        occurredAt: iso(t0.plus({ hours: 5 })),
        properties: { form: 'quote', budget: 200 },
      });
      await handle.result();
    });
    expect(rec.sends.map((s) => s.stepId)).toEqual(['small']);
    expect(rec.tasks).toEqual([]);
  });

  it('a goal on a record condition converts the enrollment when a record change meets it', async () => {
    const def: AutomationDefinition = {
      ...daily,
      exitWhen: [{ goal: { when: { field: 'record.attributes.plan', op: 'eq', value: 'paid' } } }],
    };
    const rec = new Recorder();
    const q = taskQueue('goal-when');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(def, t0.toJSDate()));
      await skipTo(env, t0.plus({ hours: 30 }));
      await handle.signal(recordChangedSignal, { id: 'c1', changes: { 'attributes.plan': 'trial' }, at: iso(t0.plus({ hours: 30 })) });
      expect((await handle.query(stateQuery)).status).toBe('active');
      await handle.signal(recordChangedSignal, { id: 'c2', changes: { 'attributes.plan': 'paid' }, at: iso(t0.plus({ hours: 30 })) });
      expect(await handle.result()).toEqual({ status: 'exited', exitReason: 'goal', converted: true });
    });
    expect(rec.sends.map((s) => s.stepId)).toEqual(['d1', 'd2']);
    expect(rec.last()).toMatchObject({ status: 'exited', exitReason: 'goal', converted: true });
  });

  it('an exit step ends the enrollment with its reason', async () => {
    const def: AutomationDefinition = {
      name: 'Exit step',
      trigger: { type: 'manual' },
      steps: [
        { id: 'b', type: 'branch', cases: [{ when: { field: 'record.stage', op: 'eq', value: 'lost' }, next: 'out' }] },
        { id: 'hello', type: 'email', template: 'tpl_hello', next: 'end' },
        { id: 'out', type: 'exit', reason: 'lost_lead' },
      ],
    };
    const rec = new Recorder();
    const q = taskQueue('exit-step');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(def, t0.toJSDate(), { record: { ...input(def, t0.toJSDate()).record, stage: 'lost' } }));
      expect(await handle.result()).toEqual({ status: 'exited', exitReason: 'lost_lead', converted: false });
    });
    expect(rec.sends).toEqual([]);
  });

  it('a definition the interpreter cannot run marks the enrollment failed and fails the run', async () => {
    const def = {
      name: 'Broken',
      trigger: { type: 'manual' },
      steps: [{ id: 'a', type: 'email', template: 'tpl_a', next: 'nowhere' }],
    } as AutomationDefinition;
    const rec = new Recorder();
    const q = taskQueue('broken');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(def, t0.toJSDate()));
      await expect(handle.result()).rejects.toThrow(/Workflow execution failed/);
    });
    expect(rec.last()).toMatchObject({ status: 'failed', exitReason: 'error: step nowhere is not in the definition', currentStep: null });
  });
});
