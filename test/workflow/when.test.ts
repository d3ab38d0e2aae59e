/**
 * `when` on any step (docs/design.md §4.3): read as the step
 * falls due; false -> the step is skipped, recorded as such, and the sequence goes on. The
 * preview shows the same.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { AutomationDefinition } from '#domain/definition';
import { simulateEnrollment } from '#domain/preview';
import { recordChangedSignal } from '#workflows/signals';
import { input, iso, newWorker, nextAnchor, record, Recorder, skipTo, startEnv, startEnrollment, taskQueue } from './harness';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const def: AutomationDefinition = {
  name: 'VIP extras',
  trigger: { type: 'manual' },
  steps: [
    { id: 'welcome', type: 'email', template: 'tpl_welcome' },
    { id: 'vip_gift', type: 'email', template: 'tpl_gift', delay: 'PT2H', when: { field: 'record.attributes.vip', op: 'eq', value: true } },
    { id: 'survey', type: 'email', template: 'tpl_survey', delay: 'PT1H' },
  ],
};

describe('when on a step', () => {
  it('a false `when` skips the step when it falls due and the sequence goes on; a change before then counts', async () => {
    const rec = new Recorder();
    const q = taskQueue('when');
    const w = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    const plain = input(def, t0.toJSDate(), { record: record({ externalId: 'rec_plain' }) });
    const vip = input(def, t0.toJSDate(), { record: record({ externalId: 'rec_vip' }) });
    await w.runUntil(async () => {
      const a = await startEnrollment(env, q, plain);
      const b = await startEnrollment(env, q, vip);
      await skipTo(env, t0.plus({ hours: 1 }));
      await b.handle.signal(recordChangedSignal, { id: 'chg_vip', changes: { 'attributes.vip': true }, at: iso(t0.plus({ hours: 1 })) });
      expect((await a.handle.result()).status).toBe('completed');
      expect((await b.handle.result()).status).toBe('completed');
    });
    const path = (enrollmentId: string) =>
      rec.progress.filter((p) => p.enrollmentId === enrollmentId && p.step).map((p) => `${p.step!.stepId}:${p.step!.status}@${p.step!.dueAt}`);
    expect(path(plain.enrollmentId)).toEqual([
      `welcome:done@${iso(t0)}`,
      `vip_gift:skipped@${iso(t0.plus({ hours: 2 }))}`,
      `survey:done@${iso(t0.plus({ hours: 3 }))}`,
    ]);
    expect(rec.progress.find((p) => p.enrollmentId === plain.enrollmentId && p.step?.stepId === 'vip_gift')!.step!.detail).toEqual({ reason: 'when' });
    expect(path(vip.enrollmentId)).toEqual([
      `welcome:done@${iso(t0)}`,
      `vip_gift:done@${iso(t0.plus({ hours: 2 }))}`,
      `survey:done@${iso(t0.plus({ hours: 3 }))}`,
    ]);

    const preview = simulateEnrollment({ definition: def, templates: plain.templates, record: plain.record, startAt: t0.toJSDate(), workspaceTimezone: 'UTC' });
    expect(preview.steps.map((s) => `${s.stepId}:${s.status}@${s.dueAt}`)).toEqual(path(plain.enrollmentId));
    expect(preview.steps[1]!.detail).toEqual({ reason: 'when' });
  });
});
