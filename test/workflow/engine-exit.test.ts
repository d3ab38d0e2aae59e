/**
 * The database agrees with Temporal when an enrollment is ended from outside or mid-activity:
 * - an exit while a send waits for its next retry cancels it: nothing reaches the channel after
 *   the exit (counted at the channel), the step is recorded as cut short, the row says why;
 * - a workflow cancelled from the Temporal client (the Web UI, the CLI) ends its enrollments row
 *   with the reason `cancelled` (written in a non-cancellable scope);
 * - an owner notification that fails does not overwrite the exit reason or the conversion.
 * Real activities on the provisioned PostgreSQL where the row is the point; the typed recorder
 * where only the workflow's decisions are.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { createDb, type Db } from '#db/connection';
import { newId } from '#db/ids';
import { createActivities, TransientDeliveryError, type OutboundMessage } from '#activities/index';
import type { AutomationDefinition } from '#domain/definition';
import { eventSignal, exitSignal } from '#workflows/signals';
import { testDatabaseUrl } from '../helpers/env';
import { input, iso, newWorker, nextAnchor, record, Recorder, skipTo, startEnv, startEnrollment, taskQueue } from './harness';

let env: TestWorkflowEnvironment;
let db: Db;
const ws = newId('ws');

beforeAll(async () => {
  db = createDb(testDatabaseUrl(), { max: 4 });
  await db
    .insertInto('workspaces')
    .values({ id: ws, name: `engine-exit ${ws}` })
    .execute();
  await db
    .insertInto('users')
    .values({ workspace_id: ws, id: 'usr_owner', name: 'Olga Owner', email: 'olga@example.com', phone: null, timezone: null })
    .execute();
  env = await startEnv();
});
afterAll(async () => {
  await env?.teardown();
  await db?.destroy();
});

async function seed(automationId: string, externalId: string): Promise<void> {
  await db
    .insertInto('automations')
    .values({ workspace_id: ws, id: automationId, name: automationId, current_version: 1, trigger_type: 'manual', status: 'active' })
    .execute();
  await db
    .insertInto('records')
    .values({
      workspace_id: ws,
      external_id: externalId,
      email: `${externalId}@example.com`,
      phone: null,
      name: 'Ana',
      timezone: 'UTC',
      stage: 'new',
      owner_id: 'usr_owner',
      attributes: JSON.stringify({}),
      unsubscribed: JSON.stringify({}),
    })
    .execute();
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(check()).toBe(true);
}

const oneEmail: AutomationDefinition = {
  name: 'One email, then a long wait',
  trigger: { type: 'manual' },
  steps: [
    { id: 'hello', type: 'email', template: 'tpl_hello' },
    { id: 'later', type: 'email', template: 'tpl_later', delay: 'P7D' },
  ],
};

describe('the database agrees with Temporal', () => {
  it('an exit while the send waits for its retry cancels it: the channel is never called again and the row says exited', async () => {
    const automationId = newId('aut');
    await seed(automationId, 'rec_retry');
    // The provider answers 429 (retry in 10 minutes) once, then would accept.
    const calls: Array<{ key: string; ok: boolean }> = [];
    const channel = {
      name: 'counting',
      async send(m: OutboundMessage) {
        const ok = calls.length > 0;
        calls.push({ key: m.messageId, ok });
        if (!ok) throw new TransientDeliveryError('429 Too Many Requests', 600_000);
        return { providerId: `p_${calls.length}`, status: 'sent' as const };
      },
    };
    const q = taskQueue('exit-retry');
    const w = await newWorker(env, { activities: createActivities({ db, providers: { email: channel } }) }, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    const inp = input(oneEmail, t0.toJSDate(), { workspaceId: ws, automationId, record: record({ externalId: 'rec_retry' }) });
    await w.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, inp);
      await until(() => calls.length === 1);
      await handle.signal(exitSignal, { reason: 'manual' });
      expect(await handle.result()).toEqual({ status: 'exited', exitReason: 'manual', converted: false });
      await skipTo(env, t0.plus({ hours: 3 }));
    });
    const messages = await db.selectFrom('messages').select(['id', 'step_id', 'status']).where('enrollment_id', '=', inp.enrollmentId).execute();
    expect(messages).toEqual([{ id: calls[0]!.key, step_id: 'hello', status: 'cancelled' }]);
    expect(calls).toEqual([{ key: messages[0]!.id, ok: false }]);
    const steps = await db.selectFrom('enrollment_steps').select(['step_id', 'status', 'detail']).where('enrollment_id', '=', inp.enrollmentId).execute();
    expect(steps).toEqual([{ step_id: 'hello', status: 'skipped', detail: { cutShortBy: 'manual' } }]);
    const row = await db.selectFrom('enrollments').selectAll().where('id', '=', inp.enrollmentId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'exited', exit_reason: 'manual', current_step: null });
    expect(row.ended_at).toBeInstanceOf(Date);
  });

  it('a workflow cancelled from the Temporal client ends its row: exited, reason "cancelled"', async () => {
    const automationId = newId('aut');
    await seed(automationId, 'rec_cancel');
    const q = taskQueue('cancel');
    const w = await newWorker(env, { activities: createActivities({ db }) }, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    const inp = input(oneEmail, t0.toJSDate(), { workspaceId: ws, automationId, record: record({ externalId: 'rec_cancel' }) });
    await w.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, inp);
      await skipTo(env, t0.plus({ days: 2 }));
      await handle.cancel();
      const err = await handle.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
    });
    const row = await db.selectFrom('enrollments').selectAll().where('id', '=', inp.enrollmentId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'exited', exit_reason: 'cancelled', current_step: null });
    expect(row.ended_at).toBeInstanceOf(Date);
  });

  it('an owner notification that fails keeps the exit reason and the conversion', async () => {
    const rec = new Recorder();
    rec.activities.notifyOwner = async () => {
      throw ApplicationFailure.nonRetryable('no owner to notify', 'NotifyFailed');
    };
    const def: AutomationDefinition = {
      name: 'Goal with a notification',
      trigger: { type: 'manual' },
      exitWhen: [{ goal: { event: 'booking.completed' }, notify: 'owner' }],
      steps: [{ id: 'w', type: 'wait', duration: 'P7D' }],
    };
    const q = taskQueue('notify-fails');
    const w = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    await w.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, input(def, t0.toJSDate()));
      await skipTo(env, t0.plus({ days: 1 }));
      await handle.signal(eventSignal, { id: 'evt_b', type: 'booking.completed', occurredAt: iso(t0.plus({ days: 1 })), properties: {} });
      expect(await handle.result()).toEqual({ status: 'exited', exitReason: 'goal', converted: true });
    });
    expect(rec.last()).toMatchObject({ status: 'exited', exitReason: 'goal', converted: true, currentStep: null });
  });
});
