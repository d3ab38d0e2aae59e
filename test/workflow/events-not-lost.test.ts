/**
 * No event lost or misread:
 * - an event that arrives with the start (signal-with-start, as the router starts a record's
 *   enrollment and delivers the event that came with it) counts for a first-step `wait_for`;
 * - events received during a long wait are carried across continue-as-new (which a run does in
 *   the middle of a wait once its history passes its stated size), with the wait's due time; a
 *   seen event re-sent after the new run started is still ignored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { AutomationDefinition } from '#domain/definition';
import { eventSignal, enrollmentWorkflowId } from '#workflows/signals';
import { enrollmentWorkflow } from '#workflows/enrollment';
import { input, iso, newWorker, nextAnchor, Recorder, skipTo, startEnv, startEnrollment, taskQueue } from './harness';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const askFirst: AutomationDefinition = {
  name: 'Rating first',
  trigger: { type: 'event', event: 'rating.received' },
  steps: [
    { id: 'rating', type: 'wait_for', event: 'rating.received', timeout: 'P1D', onEvent: 'thanks', onTimeout: 'remind' },
    { id: 'remind', type: 'email', template: 'tpl_remind', next: 'end' },
    { id: 'thanks', type: 'email', template: 'tpl_thanks' },
  ],
};

describe('events are not lost', () => {
  it('an event delivered with the start (signal-with-start) ends a first-step wait_for', async () => {
    const rec = new Recorder();
    const q = taskQueue('sws');
    const w = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    const inp = input(askFirst, t0.toJSDate());
    await w.runUntil(async () => {
      const handle = await env.client.workflow.signalWithStart(enrollmentWorkflow, {
        taskQueue: q,
        workflowId: enrollmentWorkflowId(inp.workspaceId, inp.automationId, inp.record.externalId, 1),
        args: [inp, {}],
        signal: eventSignal,
        signalArgs: [{ id: 'evt_r', type: 'rating.received', occurredAt: iso(t0), properties: { rating: 5 } }],
      });
      expect((await handle.result()).status).toBe('completed');
    });
    expect(rec.sendLog()).toEqual([`thanks@${iso(t0)}`]);
  });

  it('events received during a wait are carried across continue-as-new with its due time; a seen event re-sent to the new run is ignored', async () => {
    const rec = new Recorder();
    const q = taskQueue('carry');
    const w = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    const def: AutomationDefinition = {
      name: 'Ask, wait a month, then look for the rating',
      trigger: { type: 'manual' },
      // Counting the rating twice would end it here.
      exitWhen: [{ goal: { when: { eventCount: { event: 'rating.received' }, op: 'gte', value: 2 } } }],
      steps: [
        { id: 'ask', type: 'email', template: 'tpl_ask' },
        { id: 'month', type: 'wait', duration: 'P30D' },
        { id: 'rating', type: 'wait_for', event: 'rating.received', timeout: 'P7D', onEvent: 'thanks', onTimeout: 'remind' },
        { id: 'remind', type: 'email', template: 'tpl_remind', next: 'end' },
        { id: 'thanks', type: 'email', template: 'tpl_thanks' },
      ],
    };
    const inp = input(def, t0.toJSDate());
    const rating = { id: 'evt_rating', type: 'rating.received', occurredAt: iso(t0.plus({ days: 2 })), properties: { rating: 5 } };
    await w.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, inp, { historyEventsLimit: 60 });
      await skipTo(env, t0.plus({ days: 2 }));
      await handle.signal(eventSignal, rating);
      // A burst of irrelevant events passes the history size (60 here); the run continues as new
      // when the burst is over.
      await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          handle.signal(eventSignal, { id: `noise_${i}`, type: 'page.viewed', occurredAt: iso(t0.plus({ days: 2 })), properties: {} }),
        ),
      );
      const latest = env.client.workflow.getHandle(handle.workflowId);
      await until(async () => (await latest.describe()).runId !== handle.firstExecutionRunId);
      await latest.signal(eventSignal, rating);
      expect(await latest.result()).toEqual({ status: 'completed', exitReason: null, converted: false });
    });
    expect(rec.sendLog()).toEqual([`ask@${iso(t0)}`, `thanks@${iso(t0.plus({ days: 30 }))}`]);
  });
});

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400 && !(await check()); i++) await new Promise((r) => setTimeout(r, 50));
  expect(await check()).toBe(true);
}
