/**
 * Seed 000, "Post-Service Follow-up": wait 2 h, ask for a rating, wait 24 h for it; no rating ->
 * a gentle reminder; 4-5 stars -> a referral request; 1-3 stars -> an urgent task for the
 * account manager.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { eventSignal, stateQuery } from '#workflows/signals';
import { postService } from './definitions';
import { input, iso, newWorker, nextAnchor, Recorder, skipTo, startEnv, startEnrollment, taskQueue, trigger } from './harness';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => {
  await env?.teardown();
});

describe('post-service follow-up (seed 000)', () => {
  it('no rating within 24 h: ask at +2 h, reminder at +26 h, nothing else', async () => {
    const rec = new Recorder();
    const q = taskQueue('post-none');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(
        env,
        q,
        input(postService, t0.toJSDate(), { trigger: trigger('booking.status_changed', { status: 'completed' }) }),
      );
      const result = await handle.result();
      expect(result).toEqual({ status: 'completed', exitReason: null, converted: false });
      const state = await handle.query(stateQuery);
      expect(state.timeline.map((e) => `${e.stepId}:${e.status}`)).toEqual(['w1:done', 'ask:done', 'rating:done', 'remind:done']);
    });
    expect(rec.sendLog()).toEqual([`ask@${iso(t0.plus({ hours: 2 }))}`, `remind@${iso(t0.plus({ hours: 26 }))}`]);
    expect(rec.sends[0]).toMatchObject({ templateId: 'tpl_howwas_a', variant: 'A', key: expect.stringMatching(/:ask:1$/) });
    expect(rec.tasks).toEqual([]);
    expect(rec.last()).toMatchObject({ status: 'completed', currentStep: null });
  });

  it('a 5-star rating sends the referral request when it arrives, no reminder', async () => {
    const rec = new Recorder();
    const q = taskQueue('post-high');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(postService, t0.toJSDate(), { variant: 'B' }));
      await skipTo(env, t0.plus({ hours: 5 }));
      await handle.signal(eventSignal, { id: 'evt_r1', type: 'rating.received', occurredAt: iso(t0.plus({ hours: 5 })), properties: { rating: 5 } });
      expect((await handle.result()).status).toBe('completed');
    });
    expect(rec.sends.map((s) => s.stepId)).toEqual(['ask', 'referral']);
    expect(rec.sends[0]).toMatchObject({ templateId: 'tpl_howwas_b', variant: 'B', at: iso(t0.plus({ hours: 2 })) });
    const referralAt = Date.parse(rec.sends[1]!.at);
    expect(referralAt - t0.plus({ hours: 5 }).toMillis()).toBeGreaterThanOrEqual(0);
    expect(referralAt - t0.plus({ hours: 5 }).toMillis()).toBeLessThan(60_000);
    expect(rec.tasks).toEqual([]);
    expect(rec.steps().map((s) => s.stepId)).toEqual(['w1', 'ask', 'rating', 'route', 'referral']);
  });

  it('a 2-star rating creates one urgent task for the owner, no more email', async () => {
    const rec = new Recorder();
    const q = taskQueue('post-low');
    const worker = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    await worker.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(postService, t0.toJSDate()));
      await skipTo(env, t0.plus({ hours: 12 }));
      await handle.signal(eventSignal, { id: 'evt_r2', type: 'rating.received', occurredAt: iso(t0.plus({ hours: 12 })), properties: { rating: '2' } });
      expect((await handle.result()).status).toBe('completed');
    });
    expect(rec.sends.map((s) => s.stepId)).toEqual(['ask']);
    expect(rec.tasks).toHaveLength(1);
    expect(rec.tasks[0]).toMatchObject({ stepId: 'urgent', assignee: 'owner', ownerId: 'usr_owner', priority: 'urgent', templateId: 'tpl_call_back' });
  });
});
