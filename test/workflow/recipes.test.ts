/**
 * Seed 000's other recipes: lead nurture (with a conversion goal), subscription renewal reminder
 * (branch on the card, charge webhook on renewal day, confirmation or failure notice) and
 * reactivation (eventCount conditions after each wait).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { leadNurture, reactivation, renewal } from './definitions';
import { WEBHOOK_ACTIVITY_OPTIONS } from '#domain/webhook-step';
import { eventSignal } from '#workflows/signals';
import { input, iso, newWorker, nextAnchor, record, Recorder, skipTo, startEnv, startEnrollment, taskQueue } from './harness';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => {
  await env?.teardown();
});

describe('lead nurture (seed 000)', () => {
  it('no conversion: intro, +3 d, +7 d, +14 d, then moved to nurture', async () => {
    const rec = new Recorder();
    const q = taskQueue('nurture');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 2, '08:15', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(leadNurture, t0.toJSDate()));
      expect(await handle.result()).toEqual({ status: 'completed', exitReason: null, converted: false });
    });
    expect(rec.sendLog()).toEqual([
      `intro@${iso(t0)}`,
      `case_study@${iso(t0.plus({ days: 3 }))}`,
      `offer@${iso(t0.plus({ days: 7 }))}`,
      `final@${iso(t0.plus({ days: 14 }))}`,
    ]);
    expect(rec.updates).toHaveLength(1);
    expect(rec.updates[0]).toMatchObject({ set: { stage: 'nurture' }, at: iso(t0.plus({ days: 14 })), changeId: expect.stringMatching(/:to_nurture:1$/) });
  });

  it('a completed booking on day 5 ends it as converted (goal); nothing more is sent', async () => {
    const rec = new Recorder();
    const q = taskQueue('nurture-goal');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 2, '08:15', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(leadNurture, t0.toJSDate()));
      await skipTo(env, t0.plus({ days: 5 }));
      await handle.signal(eventSignal, { id: 'evt_b1', type: 'booking.completed', occurredAt: iso(t0.plus({ days: 5 })), properties: {} });
      expect(await handle.result()).toEqual({ status: 'exited', exitReason: 'goal', converted: true });
    });
    expect(rec.sends.map((s) => s.stepId)).toEqual(['intro', 'case_study']);
    expect(rec.updates).toEqual([]);
    expect(rec.last()).toMatchObject({ status: 'exited', exitReason: 'goal', converted: true, currentStep: null });
  });
});

describe('subscription renewal reminder (seed 000)', () => {
  it('card fine, charge succeeds: reminder now, charge and confirmation on renewal day', async () => {
    const rec = new Recorder();
    const q = taskQueue('renewal-ok');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 3, '09:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(renewal, t0.toJSDate()));
      expect((await handle.result()).status).toBe('completed');
    });
    expect(rec.sendLog()).toEqual([`reminder@${iso(t0)}`, `confirm@${iso(t0.plus({ days: 7 }))}`]);
    expect(rec.webhooks).toHaveLength(1);
    expect(rec.webhooks[0]).toMatchObject({ endpointId: 'wh_billing', payload: { action: 'charge' }, stepId: 'charge' });
  });

  it('card expiring: prompt to update; charge refused: failure notice', async () => {
    const rec = new Recorder();
    rec.webhookAnswers.wh_billing = { ok: false, status: 402, error: 'answered 402' };
    const q = taskQueue('renewal-fail');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 3, '09:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(renewal, t0.toJSDate(), { record: record({ attributes: { cardExpiresSoon: true } }) }));
      expect((await handle.result()).status).toBe('completed');
    });
    expect(rec.sendLog()).toEqual([`reminder@${iso(t0)}`, `update_card@${iso(t0)}`, `failed_notice@${iso(t0.plus({ days: 7 }))}`]);
    expect(rec.steps().find((s) => s.stepId === 'charge')).toMatchObject({ status: 'failed' });
  });

  it('a webhook that keeps failing after its retries is a failure outcome, not a failed enrollment', async () => {
    const rec = new Recorder();
    rec.webhookAnswers.wh_billing = 'throw';
    const q = taskQueue('renewal-throw');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 3, '09:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(renewal, t0.toJSDate()));
      expect((await handle.result()).status).toBe('completed');
    });
    expect(rec.sends.map((s) => s.stepId)).toEqual(['reminder', 'failed_notice']);
    // Every attempt of the retry policy ran (the harness counts each call).
    expect(rec.webhooks.map((w) => w.stepId)).toEqual(Array.from({ length: WEBHOOK_ACTIVITY_OPTIONS.retry.maximumAttempts }, () => 'charge'));
  });
});

describe('reactivation (seed 000)', () => {
  it('no booking: email now, SMS coupon at +7 d, call task at +21 d', async () => {
    const rec = new Recorder();
    const q = taskQueue('react-none');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 4, '11:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(reactivation, t0.toJSDate()));
      expect((await handle.result()).status).toBe('completed');
    });
    expect(rec.sendLog()).toEqual([`miss_you@${iso(t0)}`, `coupon@${iso(t0.plus({ days: 7 }))}`]);
    expect(rec.sends[1]!.channel).toBe('sms');
    expect(rec.tasks).toEqual([
      expect.objectContaining({ stepId: 'call', assignee: 'owner', ownerId: 'usr_owner', priority: 'high', dueAt: iso(t0.plus({ days: 23 })) }),
    ]);
  });

  it('a booking on day 10 stops it before the call task (the SMS already went)', async () => {
    const rec = new Recorder();
    const q = taskQueue('react-booked');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 4, '11:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(reactivation, t0.toJSDate()));
      await skipTo(env, t0.plus({ days: 10 }));
      await handle.signal(eventSignal, { id: 'evt_bk', type: 'booking.created', occurredAt: iso(t0.plus({ days: 10 })), properties: {} });
      expect((await handle.result()).status).toBe('completed');
    });
    expect(rec.sends.map((s) => s.stepId)).toEqual(['miss_you', 'coupon']);
    expect(rec.tasks).toEqual([]);
    expect(rec.steps().map((s) => s.stepId)).toEqual(['miss_you', 'w7', 'check1', 'coupon', 'w14', 'check2']);
  });

  it('a booking in the first week stops it before the SMS', async () => {
    const rec = new Recorder();
    const q = taskQueue('react-early');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 4, '11:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(reactivation, t0.toJSDate()));
      await skipTo(env, t0.plus({ days: 2 }));
      await handle.signal(eventSignal, { id: 'evt_bk2', type: 'booking.created', occurredAt: iso(t0.plus({ days: 2 })), properties: {} });
      expect((await handle.result()).status).toBe('completed');
    });
    expect(rec.sends.map((s) => s.stepId)).toEqual(['miss_you']);
  });
});
