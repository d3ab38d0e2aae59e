/**
 * The workflow with the real activities on the provisioned PostgreSQL: what the API will list
 * (messages rendered from the pinned templates and stored `sandboxed`, tasks, the enrollments row
 * and its step rows), owner notification on a reply, update_record with its outbox row, a signed
 * webhook to a local HTTP server, unsubscribes, and the idempotent claim of a send.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createDb, type Db } from '#db/connection';
import { newId } from '#db/ids';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, PermanentDeliveryError, SIGNATURE_HEADER, TransientDeliveryError } from '#activities/index';
import type { AutomationDefinition } from '#domain/definition';
import { eventSignal } from '#workflows/signals';
import { testDatabaseUrl } from '../helpers/env';
import { input, iso, newWorker, nextAnchor, record, skipTo, startEnv, startEnrollment, taskQueue, template } from './harness';
import { postService } from './definitions';

let env: TestWorkflowEnvironment;
let db: Db;
let server: Server;
let hookUrl: string;
const received: Array<{ body: string; signature: string | undefined; idempotencyKey?: string }> = [];
let hookStatus = 200;

const ws = newId('ws');
const SECRET = 'whsec_test_secret';

async function seedWorkspace(): Promise<void> {
  await db
    .insertInto('workspaces')
    .values({ id: ws, name: `engine-db ${ws}` })
    .execute();
  await db
    .insertInto('users')
    .values({ workspace_id: ws, id: 'usr_owner', name: 'Olga Owner', email: 'olga@example.com', phone: null, timezone: null })
    .execute();
  await db
    .insertInto('webhook_endpoints')
    .values({ id: 'wh_crm', workspace_id: ws, url: hookUrl, secret: SECRET, description: null, events: JSON.stringify([]) })
    .execute();
}

async function seedAutomation(id: string): Promise<void> {
  await db.insertInto('automations').values({ workspace_id: ws, id, name: id, current_version: 1, trigger_type: 'manual', status: 'active' }).execute();
}

async function seedRecord(externalId: string, over: { unsubscribed?: Record<string, boolean>; stage?: string } = {}): Promise<void> {
  await db
    .insertInto('records')
    .values({
      workspace_id: ws,
      external_id: externalId,
      email: `${externalId}@example.com`,
      phone: '+40712345678',
      name: 'Ana',
      timezone: 'UTC',
      stage: over.stage ?? 'new',
      owner_id: 'usr_owner',
      attributes: JSON.stringify({}),
      unsubscribed: JSON.stringify(over.unsubscribed ?? {}),
    })
    .execute();
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({
        body,
        signature: req.headers[SIGNATURE_HEADER] as string | undefined,
        idempotencyKey: req.headers['idempotency-key'] as string | undefined,
      });
      res.statusCode = hookStatus;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  db = createDb(testDatabaseUrl(), { max: 4 });
  await seedWorkspace();
  env = await startEnv();
});
afterAll(async () => {
  await env?.teardown();
  await db?.destroy();
  await new Promise((resolve) => server?.close(resolve));
});

function worker(q: string) {
  return newWorker(env, { activities: createActivities({ db }) }, q);
}

describe('enrollment with the real activities on PostgreSQL', () => {
  it('post-service, low rating: the sandboxed email rendered from the pinned template, an urgent task for the owner, the enrollment and its steps', async () => {
    const automationId = newId('aut');
    await seedAutomation(automationId);
    await seedRecord('rec_low');
    const q = taskQueue('db-post');
    const w = await worker(q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    const inp = input(postService, t0.toJSDate(), {
      workspaceId: ws,
      automationId,
      record: record({ externalId: 'rec_low', email: 'rec_low@example.com' }),
    });
    // The pinned version differs from anything live: an edit after enrollment never leaks in.
    inp.templates.tpl_howwas_a = {
      ...template('tpl_howwas_a', 'email', 7),
      content: { subject: 'How was it, {{ record.name }}?', text: 'Rate us, {{ record.name }}' },
    };
    await w.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, inp);
      await skipTo(env, t0.plus({ hours: 3 }));
      await handle.signal(eventSignal, { id: newId('evt'), type: 'rating.received', occurredAt: iso(t0.plus({ hours: 3 })), properties: { rating: 2 } });
      expect((await handle.result()).status).toBe('completed');
    });

    const messages = await db.selectFrom('messages').selectAll().where('enrollment_id', '=', inp.enrollmentId).execute();
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      idempotency_key: `${inp.enrollmentId}:ask:1`,
      step_id: 'ask',
      channel: 'email',
      to: 'rec_low@example.com',
      status: 'sandboxed',
      variant: 'A',
      template_id: 'tpl_howwas_a',
      template_version: 7,
      subject: 'How was it, Ana?',
      body: 'Rate us, Ana',
      record_id: 'rec_low',
      automation_id: automationId,
    });
    const tasks = await db.selectFrom('tasks').selectAll().where('enrollment_id', '=', inp.enrollmentId).execute();
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ step_id: 'urgent', assignee_id: 'usr_owner', priority: 'urgent', title: 'tpl_call_back: Ana', status: 'open' });

    const enrollment = await db.selectFrom('enrollments').selectAll().where('id', '=', inp.enrollmentId).executeTakeFirstOrThrow();
    expect(enrollment).toMatchObject({
      status: 'completed',
      current_step: null,
      exit_reason: null,
      converted: false,
      variant: 'A',
      workspace_id: ws,
      automation_id: automationId,
    });
    expect(enrollment.ended_at).toBeInstanceOf(Date);
    const steps = await db
      .selectFrom('enrollment_steps')
      .select(['step_id', 'visit', 'status', 'due_at'])
      .where('enrollment_id', '=', inp.enrollmentId)
      .orderBy('id')
      .execute();
    expect(steps.map((s) => `${s.step_id}/${s.visit}:${s.status}`)).toEqual(['w1/1:done', 'ask/1:done', 'rating/1:done', 'route/1:done', 'urgent/1:done']);
    expect(steps[1]!.due_at!.toISOString()).toBe(iso(t0.plus({ hours: 2 })));
  });

  it('a reply ends the sequence; the owner gets a task and an email; the row says why', async () => {
    const automationId = newId('aut');
    await seedAutomation(automationId);
    await seedRecord('rec_reply');
    const def: AutomationDefinition = {
      name: 'Seller lead',
      trigger: { type: 'manual' },
      exitWhen: [{ event: 'message.replied', notify: 'owner' }],
      settings: { timing: 'after_start' },
      steps: [
        { id: 'a1', type: 'sms', template: 'tpl_text' },
        { id: 'a2', type: 'email', template: 'tpl_mail', delay: 'P2D' },
      ],
    };
    const q = taskQueue('db-reply');
    const w = await worker(q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    const inp = input(def, t0.toJSDate(), { workspaceId: ws, automationId, record: record({ externalId: 'rec_reply' }) });
    await w.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, inp);
      await skipTo(env, t0.plus({ days: 1 }));
      await handle.signal(eventSignal, { id: newId('evt'), type: 'message.replied', occurredAt: iso(t0.plus({ days: 1 })), properties: {} });
      expect((await handle.result()).exitReason).toBe('event:message.replied');
    });
    const messages = await db.selectFrom('messages').selectAll().where('enrollment_id', '=', inp.enrollmentId).orderBy('created_at').execute();
    expect(messages.map((m) => [m.step_id, m.channel, m.to, m.status])).toEqual([
      ['a1', 'sms', '+40712345678', 'sandboxed'],
      ['notify', 'email', 'olga@example.com', 'sandboxed'],
    ]);
    expect(messages[0]!.segments).toBe(1);
    expect(messages[1]!.subject).toBe('Ana replied');
    const tasks = await db.selectFrom('tasks').selectAll().where('enrollment_id', '=', inp.enrollmentId).execute();
    expect(tasks).toEqual([expect.objectContaining({ assignee_id: 'usr_owner', priority: 'high', title: 'Ana replied' })]);
    const enrollment = await db.selectFrom('enrollments').selectAll().where('id', '=', inp.enrollmentId).executeTakeFirstOrThrow();
    expect(enrollment).toMatchObject({ status: 'exited', exit_reason: 'event:message.replied', current_step: null });
  });

  it('update_record writes the record and a record_changed outbox row with the values before; the webhook is signed; an unsubscribed channel is suppressed', async () => {
    const automationId = newId('aut');
    await seedAutomation(automationId);
    await seedRecord('rec_upd', { unsubscribed: { sms: true } });
    const def: AutomationDefinition = {
      name: 'Update and notify',
      trigger: { type: 'manual' },
      exitWhen: [{ fieldChanged: 'stage' }],
      steps: [
        { id: 'sms', type: 'sms', template: 'tpl_sms' },
        { id: 'move', type: 'update_record', set: { stage: 'nurture', 'attributes.list': 'quarterly' } },
        { id: 'tell', type: 'webhook', endpoint: 'wh_crm', payload: { kind: 'moved' }, onFailure: 'fallback' },
        { id: 'done', type: 'email', template: 'tpl_done', next: 'end' },
        { id: 'fallback', type: 'task', template: 'tpl_fix' },
      ],
    };
    const q = taskQueue('db-update');
    const w = await worker(q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    const inp = input(def, t0.toJSDate(), { workspaceId: ws, automationId, record: record({ externalId: 'rec_upd' }) });
    received.length = 0;
    hookStatus = 204;
    await w.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, inp);
      expect((await handle.result()).status).toBe('completed');
    });
    const rec = await db.selectFrom('records').selectAll().where('workspace_id', '=', ws).where('external_id', '=', 'rec_upd').executeTakeFirstOrThrow();
    expect(rec.stage).toBe('nurture');
    expect(rec.attributes).toEqual({ list: 'quarterly' });
    const outbox = await db.selectFrom('outbox').selectAll().where('workspace_id', '=', ws).where('record_id', '=', 'rec_upd').execute();
    expect(outbox).toHaveLength(1);
    expect(outbox[0]!.payload).toMatchObject({
      kind: 'record_changed',
      changeId: `${inp.enrollmentId}:move:1`,
      changes: { stage: 'nurture', 'attributes.list': 'quarterly' },
      previous: { stage: 'new', 'attributes.list': null },
    });

    expect(received).toHaveLength(1);
    const { body, signature } = received[0]!;
    const [, ts] = /^t=(\d+),/.exec(signature!)!;
    expect(signature).toBe(`t=${ts},v1=${createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex')}`);
    expect(JSON.parse(body)).toMatchObject({ stepId: 'tell', recordId: 'rec_upd', data: { kind: 'moved' } });

    const messages = await db.selectFrom('messages').selectAll().where('enrollment_id', '=', inp.enrollmentId).orderBy('created_at').execute();
    expect(messages.map((m) => [m.step_id, m.status])).toEqual([
      ['sms', 'suppressed'],
      ['done', 'sandboxed'],
    ]);
  });

  it('a webhook answered 410 is a failure outcome: the sequence takes onFailure', async () => {
    const automationId = newId('aut');
    await seedAutomation(automationId);
    await seedRecord('rec_hook');
    const def: AutomationDefinition = {
      name: 'Hook',
      trigger: { type: 'manual' },
      steps: [
        { id: 'tell', type: 'webhook', endpoint: 'wh_crm', onFailure: 'fallback' },
        { id: 'done', type: 'email', template: 'tpl_done', next: 'end' },
        { id: 'fallback', type: 'task', template: 'tpl_fix', priority: 'high' },
      ],
    };
    const q = taskQueue('db-hook');
    const w = await worker(q);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);
    const inp = input(def, t0.toJSDate(), { workspaceId: ws, automationId, record: record({ externalId: 'rec_hook' }) });
    hookStatus = 410;
    await w.runUntil(async () => {
      const { handle } = await startEnrollment(env, q, inp);
      expect((await handle.result()).status).toBe('completed');
    });
    hookStatus = 200;
    expect(await db.selectFrom('messages').select('id').where('enrollment_id', '=', inp.enrollmentId).execute()).toEqual([]);
    const tasks = await db.selectFrom('tasks').selectAll().where('enrollment_id', '=', inp.enrollmentId).execute();
    expect(tasks.map((t) => [t.step_id, t.priority])).toEqual([['fallback', 'high']]);
    const steps = await db.selectFrom('enrollment_steps').selectAll().where('enrollment_id', '=', inp.enrollmentId).orderBy('id').execute();
    expect(steps[0]).toMatchObject({ step_id: 'tell', status: 'failed', detail: { ok: false, status: 410 } });
  });
});

describe('activities, called directly', () => {
  it('a send retried after a crash finds its claimed row and does not send twice', async () => {
    const automationId = newId('aut');
    await seedAutomation(automationId);
    await seedRecord('rec_idem');
    const sent: string[] = [];
    const acts = createActivities({
      db,
      providers: { email: { name: 'spy', send: async (m) => (sent.push(m.messageId), { providerId: 'p_1', status: 'sent' }) } },
    });
    const enrollmentId = newId('enr');
    await acts.recordProgress({
      workspaceId: ws,
      enrollmentId,
      automationId,
      recordId: 'rec_idem',
      version: 1,
      workflowId: `wf/${enrollmentId}`,
      seq: 1,
      variant: null,
      triggerEventId: null,
      startedAt: new Date().toISOString(),
      status: 'active',
      currentStep: 'e',
    });
    const req = {
      workspaceId: ws,
      enrollmentId,
      automationId,
      recordId: 'rec_idem',
      idempotencyKey: `${enrollmentId}:e:1`,
      stepId: 'e',
      channel: 'email' as const,
      to: 'record' as const,
      template: template('tpl_x', 'email'),
      templateId: 'tpl_x',
      variant: null,
      context: { record: record({ externalId: 'rec_idem' }), event: null, enrollment: { id: enrollmentId, automationId, version: 1, variant: null } },
      dueAt: new Date().toISOString(),
    };
    const first = await acts.sendMessage(req);
    const second = await acts.sendMessage(req);
    expect(first).toMatchObject({ status: 'sent', duplicate: false });
    expect(second).toMatchObject({ messageId: first.messageId, status: 'sent', duplicate: true });
    expect(sent).toEqual([first.messageId]);
    const rows = await db.selectFrom('messages').selectAll().where('idempotency_key', '=', req.idempotencyKey).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ provider_id: 'p_1', status: 'sent' });

    // A template that tries to reach outside its context renders nothing from it.
    const sneaky = await acts.sendMessage({
      ...req,
      idempotencyKey: `${enrollmentId}:e:2`,
      template: {
        id: 'tpl_sneaky',
        version: 1,
        channel: 'email',
        content: { subject: '{{ record.constructor.name }}{{ record.__proto__ }}x', text: '{{ record.name | upcase }}' },
      },
    });
    const row = await db.selectFrom('messages').selectAll().where('id', '=', sneaky.messageId).executeTakeFirstOrThrow();
    expect(row.subject).toBe('x');
    expect(row.body).toBe('ANA');
  });
});

describe('activities: provider and endpoint failures', () => {
  it('a transient provider error retries (honouring Retry-After); a permanent one is recorded on the message and not retried', async () => {
    const automationId = newId('aut');
    await seedAutomation(automationId);
    await seedRecord('rec_fail');
    const enrollmentId = newId('enr');
    const base = {
      workspaceId: ws,
      enrollmentId,
      automationId,
      recordId: 'rec_fail',
      stepId: 'e',
      channel: 'email' as const,
      to: 'record' as const,
      template: template('tpl_x', 'email'),
      templateId: 'tpl_x',
      variant: null,
      dueAt: new Date().toISOString(),
      context: { record: record({ externalId: 'rec_fail' }), event: null, enrollment: { id: enrollmentId, automationId, version: 1, variant: null } },
    };
    await createActivities({ db }).recordProgress({
      workspaceId: ws,
      enrollmentId,
      automationId,
      recordId: 'rec_fail',
      version: 1,
      workflowId: `wf/${enrollmentId}`,
      seq: 1,
      variant: null,
      triggerEventId: null,
      startedAt: new Date().toISOString(),
      status: 'active',
      currentStep: 'e',
    });
    const flaky = createActivities({
      db,
      providers: {
        email: {
          name: 'flaky',
          send: async () => {
            throw new TransientDeliveryError('429 from provider', 7_000);
          },
        },
      },
    });
    const err = await new MockActivityEnvironment().run(flaky.sendMessage, { ...base, idempotencyKey: `${enrollmentId}:e:1` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'TransientDeliveryError', nonRetryable: false, nextRetryDelay: 7_000 });
    // The claimed row stays queued: the retry sends it.
    const retried = await createActivities({ db }).sendMessage({ ...base, idempotencyKey: `${enrollmentId}:e:1` });
    expect(retried).toMatchObject({ status: 'sandboxed', duplicate: false });

    const refusing = createActivities({
      db,
      providers: {
        email: {
          name: 'refusing',
          send: async () => {
            throw new PermanentDeliveryError('invalid address');
          },
        },
      },
    });
    const failed = await refusing.sendMessage({ ...base, idempotencyKey: `${enrollmentId}:e:2` });
    expect(failed).toMatchObject({ status: 'failed', error: 'invalid address' });
    const row = await db.selectFrom('messages').selectAll().where('id', '=', failed.messageId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'failed', error: 'invalid address' });
  });

  const hookRequest = (idempotencyKey: string) => ({
    workspaceId: ws,
    enrollmentId: 'enr_x',
    automationId: 'aut_x',
    recordId: 'rec_x',
    idempotencyKey,
    stepId: 's',
    endpointId: 'wh_crm',
    payload: {},
    context: { record: record(), event: null, enrollment: { id: 'enr_x', automationId: 'aut_x', version: 1, variant: null } },
  });

  it('a webhook answered 503 with Retry-After throws a retryable failure with that delay; the retry calls again', async () => {
    const key = `${newId('enr')}:s:1`;
    const answered503 = createActivities({
      db,
      fetch: async () => new Response(null, { status: 503, headers: { 'retry-after': '12' } }),
    });
    const err = await new MockActivityEnvironment().run(answered503.callWebhook, hookRequest(key)).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'WebhookTransient', nonRetryable: false, nextRetryDelay: 12_000 });

    received.length = 0;
    const outcome = await new MockActivityEnvironment().run(createActivities({ db }).callWebhook, hookRequest(key));
    expect(outcome).toEqual({ ok: true, status: 200, error: null });
    expect(received.map((r) => r.idempotencyKey)).toEqual([key]);
  });

  it('a webhook retried after its answer (the completion lost on the way to Temporal) returns that answer without calling again', async () => {
    const key = `${newId('enr')}:s:1`;
    const acts = createActivities({ db });
    received.length = 0;
    hookStatus = 410;
    const first = await new MockActivityEnvironment().run(acts.callWebhook, hookRequest(key));
    hookStatus = 200;
    const retried = await new MockActivityEnvironment().run(acts.callWebhook, hookRequest(key));
    expect(first).toEqual({ ok: false, status: 410, error: 'answered 410' });
    expect(retried).toEqual(first);
    expect(received).toHaveLength(1);
    expect(received[0]!.idempotencyKey).toBe(key);
    expect(JSON.parse(received[0]!.body)).toMatchObject({ id: key });
  });

  it('a webhook retried while an earlier attempt is still waiting for the answer does not call: it retries after that lease', async () => {
    const key = `${newId('enr')}:s:1`;
    let answer!: (r: Response) => void;
    let calls = 0;
    const acts = createActivities({
      db,
      fetch: () => ((calls += 1), new Promise<Response>((r) => (answer = r))),
    });
    const first = new MockActivityEnvironment().run(acts.callWebhook, hookRequest(key));
    while (calls === 0) await new Promise((r) => setTimeout(r, 20));
    const err = await new MockActivityEnvironment().run(acts.callWebhook, hookRequest(key)).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'WebhookCallInProgress', nonRetryable: false });
    expect((err as ApplicationFailure).nextRetryDelay).toBeGreaterThan(10_000);
    answer(new Response(null, { status: 202 }));
    expect(await first).toEqual({ ok: true, status: 202, error: null });
    expect(await new MockActivityEnvironment().run(acts.callWebhook, hookRequest(key))).toEqual({ ok: true, status: 202, error: null });
    expect(calls).toBe(1);
  });
});
