/**
 * The preview and the workflow run one interpreter (domain/interpreter.ts): for generated
 * definitions (with `when` on any step) and event sequences, the preview's path (steps, statuses) and due times equal the
 * workflow's on the time-skipping server, and so do the outcome and the exit reason.
 *
 * Event times are whole minutes off the hour, each a different minute, so no event coincides
 * with a due time (those are whole hours, or an event's minute plus whole hours): a tie between a
 * timer and a signal has no single right order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { AutomationDefinition, Condition, ExitRule, Step } from '#domain/definition';
import { simulateEnrollment } from '#domain/preview';
import { eventSignal } from '#workflows/signals';
import { input, newWorker, nextAnchor, record, Recorder, skipTo, startEnv, startEnrollment, taskQueue } from './harness';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const KINDS = ['wait', 'email', 'sms', 'task', 'wait_for', 'branch', 'exit', 'update_record', 'webhook'] as const;
const EVENT_TYPES = ['rating.received', 'form.sent', 'message.replied', 'booking.completed', 'noise'] as const;

/** Weighted towards the steps that events decide. */
const weighted = <T>(pairs: Array<[T, number]>) => fc.oneof(...pairs.map(([v, weight]) => ({ arbitrary: fc.constant(v), weight })));

const stepSpec = fc.record({
  kind: weighted<(typeof KINDS)[number]>(KINDS.map((k) => [k, k === 'wait_for' ? 6 : k === 'branch' || k === 'wait' ? 2 : k === 'exit' ? 1 : 1])),
  hours: fc.integer({ min: 1, max: 40 }),
  delay: fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined, freq: 2 }),
  window: fc.integer({ min: 0, max: 3 }).map((x) => x === 0),
  where: fc.boolean(),
  jump: fc.option(fc.nat(), { nil: undefined, freq: 2 }),
  jump2: fc.option(fc.nat(), { nil: undefined, freq: 2 }),
  event: fc.constantFrom('rating.received', 'form.sent'),
  when: weighted<Condition | undefined>([
    [undefined, 4],
    [{ eventCount: { event: 'form.sent' }, op: 'gte', value: 1 }, 1],
    [{ field: 'record.stage', op: 'eq', value: 'new' }, 1],
  ]),
});
type StepSpec = typeof stepSpec extends fc.Arbitrary<infer T> ? T : never;

/** Steps jump only forward (or to the end), so every definition ends. */
function buildSteps(specs: StepSpec[]): Step[] {
  const ids = specs.map((_, i) => `s${i}`);
  return specs.map((sp, i): Step => {
    const targets = [...ids.slice(i + 1), 'end'];
    const target = (k: number | undefined) => (k === undefined ? undefined : targets[k % targets.length]!);
    const base = {
      id: ids[i]!,
      ...(sp.delay !== undefined ? { delay: `PT${sp.delay}H` } : {}),
      ...(sp.window ? { window: { days: 'workdays' as const, from: '09:00', to: '17:00' } } : {}),
      ...(sp.when ? { when: sp.when } : {}),
    };
    const jump = target(sp.jump);
    switch (sp.kind) {
      case 'wait':
        return { ...base, type: 'wait', duration: `PT${sp.hours}H`, ...(jump ? { next: jump } : {}) };
      case 'email':
        return { ...base, type: 'email', template: `tpl_${i}`, ...(jump ? { next: jump } : {}) };
      case 'sms':
        return { ...base, type: 'sms', template: `tpl_${i}` };
      case 'task':
        return { ...base, type: 'task', template: `tpl_${i}`, due: 'PT4H' };
      case 'wait_for': {
        const onTimeout = target(sp.jump2);
        return {
          ...base,
          type: 'wait_for',
          event: sp.event,
          timeout: `PT${sp.hours}H`,
          ...(sp.where ? { where: { field: 'event.rating', op: 'gte', value: 3 } } : {}),
          ...(jump ? { onEvent: jump } : {}),
          ...(onTimeout ? { onTimeout } : {}),
        };
      }
      case 'branch': {
        const otherwise = target(sp.jump2);
        return {
          ...base,
          type: 'branch',
          cases: [
            {
              when: sp.where ? { field: 'event.rating', op: 'gte', value: 4 } : { eventCount: { event: 'form.sent' }, op: 'gte', value: 1 },
              next: jump ?? 'end',
            },
          ],
          ...(otherwise ? { otherwise } : {}),
        };
      }
      case 'exit':
        return { ...base, type: 'exit', reason: `exit_${i}` };
      case 'update_record':
        return { ...base, type: 'update_record', set: { stage: `stage_${i}`, 'attributes.step': i } };
      case 'webhook':
        return { ...base, type: 'webhook', endpoint: 'wh_1', ...(jump ? { onFailure: jump } : {}) };
    }
  });
}

const EXIT_RULES: ExitRule[] = [
  { event: 'message.replied' },
  { goal: { event: 'booking.completed' } },
  { goal: { when: { eventCount: { event: 'form.sent' }, op: 'gte', value: 2 } } },
];

const definition = fc
  .record({
    steps: fc.array(stepSpec, { minLength: 1, maxLength: 6 }),
    timing: fc.constantFrom('after_previous' as const, 'after_start' as const),
    quiet: fc.boolean(),
    exits: fc.subarray(EXIT_RULES),
  })
  .map(({ steps, timing, quiet, exits }): AutomationDefinition => ({
    name: 'generated',
    trigger: { type: 'manual' },
    ...(exits.length > 0 ? { exitWhen: exits } : {}),
    settings: { timing, ...(quiet ? { quietHours: { start: '21:00', end: '08:00' } } : {}) },
    steps: buildSteps(steps),
  }));

const events = fc
  .uniqueArray(
    fc.record({
      type: weighted<(typeof EVENT_TYPES)[number]>(EVENT_TYPES.map((t, i) => [t, [4, 3, 1, 1, 1][i]!])),
      hour: fc.integer({ min: 0, max: 48 }),
      minute: fc.integer({ min: 1, max: 59 }),
      rating: fc.integer({ min: 1, max: 5 }),
    }),
    { maxLength: 6, selector: (e) => e.minute },
  )
  .map((es) =>
    es.map((e) => ({ type: e.type, offsetMs: (e.hour * 60 + e.minute) * 60_000, properties: { rating: e.rating } })).sort((a, b) => a.offsetMs - b.offsetMs),
  );

describe('the preview agrees with the workflow', () => {
  it('same path, statuses, due times and outcome for generated definitions and events', async () => {
    const rec = new Recorder();
    const q = taskQueue('agree');
    const worker = await newWorker(env, rec, q);
    await worker.runUntil(async () => {
      await fc.assert(
        fc.asyncProperty(definition, events, async (def, evs) => {
          const t0 = (await nextAnchor(env, 1, '10:00', 'UTC')).toJSDate();
          await skipTo(env, t0);
          const inp = input(def, t0, { record: record() });
          const preview = simulateEnrollment({
            definition: def,
            templates: inp.templates,
            record: inp.record,
            startAt: t0,
            events: evs.map((e) => ({ type: e.type, at: new Date(t0.getTime() + e.offsetMs), properties: e.properties })),
            workspaceTimezone: inp.workspaceTimezone,
            variant: inp.variant,
          });

          const { handle } = await startEnrollment(env, q, inp);
          for (const [i, e] of evs.entries()) {
            const at = new Date(t0.getTime() + e.offsetMs);
            await skipTo(env, at);
            try {
              await handle.signal(eventSignal, { id: `evt_${i}`, type: e.type, occurredAt: at.toISOString(), properties: e.properties });
            } catch (err) {
              // The enrollment already ended: the preview delivers that event to nobody either.
              if (!(err instanceof WorkflowNotFoundError)) throw err;
            }
          }
          const result = await handle.result();
          const path = rec.progress
            .filter((p) => p.enrollmentId === inp.enrollmentId && p.step)
            .map((p) => `${p.step!.stepId}:${p.step!.status}@${p.step!.dueAt}`);
          expect(path).toEqual(preview.steps.map((s) => `${s.stepId}:${s.status}@${s.dueAt}`));
          expect({ outcome: result.status, exitReason: result.exitReason, converted: result.converted }).toEqual({
            outcome: preview.outcome,
            exitReason: preview.exitReason,
            converted: preview.converted,
          });
        }),
        { numRuns: 40 },
      );
    });
    // 40 workflows on the time-skipping server: a loaded run once passed the default 60 s.
  }, 300_000);
});
