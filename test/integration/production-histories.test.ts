/**
 * Production-shaped enrollment histories: each scenario runs on the real worker (router, enroller,
 * the real activities writing PostgreSQL, the real SendGrid client talking to the local fake)
 * against a private Temporal dev server that suggests continue-as-new early (at
 * SUGGEST_CAN_AT events instead of 4,096), so the suggestion is exercised without thousands of
 * events. The test asserts what each scenario did and replays its history (every run of a chain)
 * on the current workflow code.
 *
 * With RECORD_HISTORIES=1 (`npx tsx scripts/record-histories.ts --production`) the histories of
 * new scenarios are also written to test/histories/prod-<scenario>[.runN].json (existing files are kept), which test/workflow/replay.test.ts
 * replays on every build: the corpus then holds what production writes (search attributes at the
 * start, the trigger event, signal-with-start, real activity failures and retries), not only what
 * the workflow tests' recorder answers.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import proto from '@temporalio/proto';
import { pino } from 'pino';
import { insertEnrollment } from '#db/enrollments';
import { Enroller, enrollmentIdFor } from '#engine/enroller';
import { installTemporalRuntime } from '#services/worker/worker';
import { enrollmentWorkflowId, eventSignal } from '#workflows/signals';
import { createLocalEnv } from '../helpers/env';
import { fakeSendgrid, type FakeSendgrid } from '../helpers/fake-providers';
import { saveHistory, type History } from '../workflow/histories';
import { workflowBundle } from '../workflow/harness';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

vi.setConfig({ testTimeout: 180_000 });

const SUGGEST_CAN_AT = 100;
const OUT = fileURLToPath(new URL('../histories/', import.meta.url));
const RECORD = process.env.RECORD_HISTORIES === '1';

let local: TestWorkflowEnvironment;
let e: EngineTest;
let sg: FakeSendgrid;
let hook: Server;
let hookUrl: string;

beforeAll(async () => {
  // The worker's runtime first (it can only be installed before any connection is made).
  installTemporalRuntime(pino({ level: 'warn' }));
  local = await createLocalEnv({ server: { extraArgs: ['--dynamic-config-value', `limit.historyCount.suggestContinueAsNew=${SUGGEST_CAN_AT}`] } });
  sg = await fakeSendgrid();
  // The backend's webhook endpoint: refuses every call (402), a failure the definition branches on.
  hook = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(402, { 'content-type': 'application/json' }).end('{"error":"payment required"}'));
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
  e = await startEngineTest({
    env: {
      TEMPORAL_ADDRESS: local.address,
      SENDGRID_API_KEY: 'SG.histories',
      SENDGRID_API_URL: sg.url,
      SEND_TIMEOUT_MS: '3000',
      SEND_CONFIRM_GRACE_MS: '3000',
    },
  });
  await e.t.db
    .insertInto('senders')
    .values({
      workspace_id: e.t.workspaceId,
      id: 'snd_mail',
      channel: 'email',
      from: 'hello@cleaning.example',
      name: 'Sparkle Cleaning',
      reply_to: null,
      messaging_service_sid: null,
      kind: null,
      segments_per_second: null,
    })
    .execute();
  const settings = await e.api('PUT', '/v1/settings', { defaultSenders: { email: 'snd_mail' } });
  expect(settings.status, JSON.stringify(settings.body)).toBe(200);
}, 300_000);
afterAll(async () => {
  await e?.close();
  await new Promise((r) => (hook ? hook.close(r) : r(undefined)));
  await local?.teardown();
});
afterEach(() => sg.reset());

// ---------------------------------------------------------------------------------------------

async function enroll(automationId: string, recordId: string): Promise<{ id: string; workflowId: string }> {
  const res = await e.api('POST', `/v1/automations/${automationId}/enrollments`, { recordId });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function enrollmentOf(automationId: string, recordId: string): Promise<{ id: string; workflowId: string }> {
  return waitFor('the enrollment', async () => {
    const res = await e.api('GET', `/v1/records/${encodeURIComponent(recordId)}/enrollments`);
    return res.body.items.find((x: any) => x.automationId === automationId);
  });
}

async function ended(enrollmentId: string): Promise<any> {
  return waitFor('the enrollment to end', async () => {
    const res = await e.api('GET', `/v1/enrollments/${enrollmentId}`);
    return ['completed', 'exited', 'failed'].includes(res.body.status) ? res.body : undefined;
  });
}

async function event(id: string, type: string, recordId: string, properties: Record<string, unknown> = {}): Promise<void> {
  const res = await e.api('POST', '/v1/events', { id, type, recordId, occurredAt: new Date().toISOString(), properties });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
}

/** The sends the fake SendGrid accepted for this record, by template (the subject starts with the template id). */
function mailedTemplates(recordId: string): string[] {
  return sg.accepted
    .filter((r) => JSON.stringify(r.body.personalizations).includes(`${recordId}@example.com`))
    .map((r) => String(r.body.subject).split(' ')[0]!);
}

/** Every run of a workflow (continue-as-new chains it), first run first. */
async function runsOf(workflowId: string): Promise<History[]> {
  const out: History[] = [];
  let runId: string | undefined = (await e.temporal.workflow.getHandle(workflowId).describe()).runId;
  while (runId) {
    const history: History = await e.temporal.workflow.getHandle(workflowId, runId).fetchHistory();
    out.unshift(history);
    runId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }
  return out;
}

/** The workflow's runs, each replayed on the current workflow code; written to test/histories/ when recording. */
async function histories(name: string, workflowId: string): Promise<History[]> {
  const runs = await runsOf(workflowId);
  const failures: string[] = [];
  const named = runs.map((history, i) => ({ workflowId: runs.length === 1 ? `prod-${name}` : `prod-${name}.run${i + 1}`, history }));
  for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, named)) {
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  expect(failures).toEqual([]);
  // Only new scenarios are written: a recorded history is never re-recorded (it is what running enrollments replay).
  if (RECORD) for (const r of named) if (!existsSync(join(OUT, `${r.workflowId}.json`))) saveHistory(join(OUT, `${r.workflowId}.json`), r.history);
  return runs;
}

const { EventType } = proto.temporal.api.enums.v1;
/** The event types of a history by name (EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, ...). */
const types = (h: History) => (h.events ?? []).map((ev) => EventType[ev.eventType ?? 0]);
const count = (h: History, type: keyof typeof EventType) => types(h).filter((t) => t === type).length;
/** The patches a history records (`patched()` markers), by id. */
const patches = (h: History) =>
  (h.events ?? []).flatMap((ev) => {
    const m = ev.markerRecordedEventAttributes;
    const data = m?.markerName === 'core_patch' ? m.details?.['patch-data']?.payloads?.[0]?.data : undefined;
    return data ? [(JSON.parse(Buffer.from(data).toString()) as { id: string }).id] : [];
  });

// ---------------------------------------------------------------------------------------------

describe('production-shaped histories (real worker, real activities, dev server)', () => {
  it('trigger event: started by the router with its search attributes; a rating ends the first-step wait_for', async () => {
    const a = await createAutomation(
      e,
      {
        name: 'Rating',
        trigger: { type: 'event', event: 'visit.done' },
        steps: [
          { id: 'ask', type: 'email', to: 'record', template: 'tpl_h_ask' },
          { id: 'rating', type: 'wait_for', event: 'rating.received', timeout: 'P3D', onEvent: 'thanks', onTimeout: 'end' },
          { id: 'thanks', type: 'email', to: 'record', template: 'tpl_h_thanks' },
        ],
      },
      { templates: [{ id: 'tpl_h_ask' }, { id: 'tpl_h_thanks' }] },
    );
    await putRecord(e, 'h-trigger');
    await event('evt-h-visit', 'visit.done', 'h-trigger');
    const enr = await enrollmentOf(a.id, 'h-trigger');
    await waitFor('the question', async () => mailedTemplates('h-trigger').length === 1);
    await event('evt-h-rating', 'rating.received', 'h-trigger', { rating: 5 });
    const done = await ended(enr.id);
    expect(done.timeline.map((s: any) => [s.stepId, s.status])).toEqual([
      ['ask', 'done'],
      ['rating', 'done'],
      ['thanks', 'done'],
    ]);
    expect(mailedTemplates('h-trigger')).toEqual(['tpl_h_ask', 'tpl_h_thanks']);
    const [h] = await histories('trigger-event', enr.workflowId);
    const started = h!.events![0]!.workflowExecutionStartedEventAttributes!;
    expect(Object.keys(started.searchAttributes?.indexedFields ?? {}).sort()).toEqual([
      'AutomationId',
      'AutomationVersion',
      'CurrentStep',
      'EnrollmentStatus',
      'RecordId',
      'WorkspaceId',
    ]);
    expect(count(h!, 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED')).toBe(1);
  });

  it('signal-with-start: an event for an enrollment whose workflow was not started yet starts it and counts', async () => {
    const a = await createAutomation(
      e,
      {
        name: 'Reply first',
        trigger: { type: 'manual' },
        steps: [
          { id: 'reply', type: 'wait_for', event: 'message.replied', timeout: 'P1D', onEvent: 'thanks', onTimeout: 'end' },
          { id: 'thanks', type: 'email', to: 'record', template: 'tpl_h_swst' },
        ],
      },
      { templates: [{ id: 'tpl_h_swst' }] },
    );
    await putRecord(e, 'h-swst');
    // The row exists (the enroller inserted it) but its start has not happened yet.
    const workflowId = enrollmentWorkflowId(e.t.workspaceId, a.id, 'h-swst', 1);
    const row = await insertEnrollment(e.t.db, {
      id: enrollmentIdFor(workflowId),
      workspaceId: e.t.workspaceId,
      automationId: a.id,
      version: 1,
      recordId: 'h-swst',
      seq: 1,
      workflowId,
      variant: 'A',
      triggerEventId: null,
      startedAt: new Date(),
      currentStep: 'reply',
    });
    const enroller = new Enroller({ db: e.t.db, temporal: e.temporal, taskQueue: e.config.TEMPORAL_TASK_QUEUE });
    const reply = { id: 'evt-h-swst', type: 'message.replied', occurredAt: new Date().toISOString(), properties: {} };
    expect(await enroller.signalWithStart(e.t.workspaceId, row!.id, eventSignal, [reply])).toBe('delivered');
    const done = await ended(row!.id);
    expect(done.timeline.map((s: any) => [s.stepId, s.status])).toEqual([
      ['reply', 'done'],
      ['thanks', 'done'],
    ]);
    const [h] = await histories('signal-with-start', workflowId);
    // The signal is recorded right after the start, before the first workflow task.
    expect(types(h!).slice(0, 2)).toEqual(['EVENT_TYPE_WORKFLOW_EXECUTION_STARTED', 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED']);
  });

  it('a failed step: the provider refuses the first email for good; the sequence goes on', async () => {
    const a = await createAutomation(
      e,
      {
        name: 'Refused',
        trigger: { type: 'manual' },
        steps: [
          { id: 'first', type: 'email', to: 'record', template: 'tpl_h_refused' },
          { id: 'second', type: 'email', to: 'record', template: 'tpl_h_after' },
        ],
      },
      { templates: [{ id: 'tpl_h_refused' }, { id: 'tpl_h_after' }] },
    );
    await putRecord(e, 'h-failed');
    sg.script({ status: 400, body: { errors: [{ message: 'Does not contain a valid address.', field: 'personalizations.0.to.0.email' }] } });
    const enr = await enroll(a.id, 'h-failed');
    const done = await ended(enr.id);
    expect(done.status).toBe('completed');
    expect(done.timeline.map((s: any) => [s.stepId, s.status])).toEqual([
      ['first', 'failed'],
      ['second', 'done'],
    ]);
    expect(mailedTemplates('h-failed')).toEqual(['tpl_h_after']);
    await histories('failed-step', enr.workflowId);
  });

  it('a cancel from the Temporal client during a wait ends the row as exited (cancelled)', async () => {
    const a = await createAutomation(
      e,
      {
        name: 'Cancelled',
        trigger: { type: 'manual' },
        steps: [
          { id: 'hello', type: 'email', to: 'record', template: 'tpl_h_cancel' },
          { id: 'later', type: 'email', to: 'record', template: 'tpl_h_cancel_later', delay: 'P7D' },
        ],
      },
      { templates: [{ id: 'tpl_h_cancel' }, { id: 'tpl_h_cancel_later' }] },
    );
    await putRecord(e, 'h-cancel');
    const enr = await enroll(a.id, 'h-cancel');
    await waitFor('the first email', async () => mailedTemplates('h-cancel').length === 1);
    await waitFor('the wait', async () => (await e.api('GET', `/v1/enrollments/${enr.id}`)).body.timeline.length === 1);
    await e.temporal.workflow.getHandle(enr.workflowId).cancel();
    const done = await ended(enr.id);
    expect(done).toMatchObject({ status: 'exited', exitReason: 'cancelled' });
    expect(mailedTemplates('h-cancel')).toEqual(['tpl_h_cancel']);
    await histories('cancel', enr.workflowId);
  });

  it("an exit while a send is in its retries cancels the send: nothing reaches the provider's inbox", async () => {
    const a = await createAutomation(
      e,
      { name: 'Exit in retries', trigger: { type: 'manual' }, steps: [{ id: 'mail', type: 'email', to: 'record', template: 'tpl_h_retry' }] },
      { templates: [{ id: 'tpl_h_retry' }] },
    );
    await putRecord(e, 'h-exit');
    const fail = { status: 503, headers: { 'retry-after': '1' }, body: { errors: [{ message: 'try later' }] } };
    sg.script(...Array.from({ length: 30 }, () => fail));
    const enr = await enroll(a.id, 'h-exit');
    await waitFor('a retry', async () => sg.requests.length >= 2);
    expect((await e.api('POST', `/v1/enrollments/${enr.id}/exit`)).status).toBe(202);
    const done = await ended(enr.id);
    expect(done).toMatchObject({ status: 'exited', exitReason: 'manual' });
    expect(sg.accepted).toHaveLength(0);
    const [h] = await histories('exit-during-retries', enr.workflowId);
    expect(count(h!, 'EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED')).toBe(1);
  });

  it('a webhook the backend refuses (402) takes the onFailure branch', async () => {
    const ep = await e.api('POST', '/v1/webhook-endpoints', { url: hookUrl });
    expect(ep.status, JSON.stringify(ep.body)).toBe(201);
    const a = await createAutomation(
      e,
      {
        name: 'Charge',
        trigger: { type: 'manual' },
        steps: [
          { id: 'charge', type: 'webhook', endpoint: ep.body.id, payload: { action: 'charge' }, onFailure: 'failed_notice' },
          { id: 'confirm', type: 'email', to: 'record', template: 'tpl_h_ok', next: 'end' },
          { id: 'failed_notice', type: 'email', to: 'record', template: 'tpl_h_failed' },
        ],
      },
      { templates: [{ id: 'tpl_h_ok' }, { id: 'tpl_h_failed' }] },
    );
    await putRecord(e, 'h-webhook');
    const enr = await enroll(a.id, 'h-webhook');
    const done = await ended(enr.id);
    expect(done.timeline.map((s: any) => [s.stepId, s.status])).toEqual([
      ['charge', 'failed'],
      ['failed_notice', 'done'],
    ]);
    expect(mailedTemplates('h-webhook')).toEqual(['tpl_h_failed']);
    await histories('webhook-failure', enr.workflowId);
  });

  it('continue-as-new when the server suggests it: a long sequence runs as a chain of runs, each step once', async () => {
    const steps = Array.from({ length: 10 }, (_, i) => ({ id: `m${i + 1}`, type: 'email', to: 'record', template: 'tpl_h_chain' }));
    const a = await createAutomation(e, { name: 'Chain', trigger: { type: 'manual' }, steps }, { templates: [{ id: 'tpl_h_chain' }] });
    await putRecord(e, 'h-chain');
    const enr = await enroll(a.id, 'h-chain');
    const done = await ended(enr.id);
    expect(done.status).toBe('completed');
    expect(mailedTemplates('h-chain')).toEqual(steps.map(() => 'tpl_h_chain'));
    const runs = await histories('suggested-continue-as-new', enr.workflowId);
    expect(runs.length).toBeGreaterThan(1);
    for (const h of runs.slice(0, -1)) expect(types(h).at(-1)).toBe('EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW');
  });

  it('event counts come from the events table: page views stored before the enrollment send a hot lead to a call task', async () => {
    const a = await createAutomation(
      e,
      {
        name: 'Hot leads',
        trigger: { type: 'manual' },
        steps: [
          {
            id: 'hot',
            type: 'branch',
            cases: [{ when: { eventCount: { event: 'page.viewed', within: 'P7D' }, op: 'gte', value: 3 }, next: 'call' }],
            otherwise: 'mail',
          },
          { id: 'call', type: 'task', assignee: 'owner', template: 'tpl_h_hot_call', next: 'end' },
          { id: 'mail', type: 'email', to: 'record', template: 'tpl_h_hot_mail' },
        ],
      },
      { templates: [{ id: 'tpl_h_hot_call', channel: 'task' }, { id: 'tpl_h_hot_mail' }] },
    );
    await putRecord(e, 'h-counts');
    // Stored (and routed to no enrollment) before the record enrolls: only the events table knows them.
    for (let i = 0; i < 3; i++) await event(`evt-h-view-${i}`, 'page.viewed', 'h-counts', { path: '/pricing' });
    const enr = await enroll(a.id, 'h-counts');
    const done = await ended(enr.id);
    expect(done.status).toBe('completed');
    expect(done.timeline.map((s: any) => [s.stepId, s.status])).toEqual([
      ['hot', 'done'],
      ['call', 'done'],
    ]);
    expect(mailedTemplates('h-counts')).toEqual([]);
    const [h] = await histories('event-counts-from-table', enr.workflowId);
    expect(patches(h!)).toContain('event-counts-from-table');
  });

  it('a long wait_for receiving noise (events it reads but that do not match) ends on the matching event', async () => {
    const a = await createAutomation(
      e,
      {
        name: 'Quote',
        trigger: { type: 'manual' },
        steps: [
          {
            id: 'quote',
            type: 'wait_for',
            event: 'form.submitted',
            where: { field: 'event.form', op: 'eq', value: 'quote' },
            timeout: 'P90D',
            onEvent: 'thanks',
            onTimeout: 'end',
          },
          { id: 'thanks', type: 'email', to: 'record', template: 'tpl_h_quote' },
        ],
      },
      { templates: [{ id: 'tpl_h_quote' }] },
    );
    await putRecord(e, 'h-noise');
    const enr = await enroll(a.id, 'h-noise');
    const NOISE = 30;
    for (let i = 0; i < NOISE; i++) await event(`evt-h-noise-${i}`, 'form.submitted', 'h-noise', { form: 'newsletter' });
    await waitFor('the noise to reach the workflow', async () => {
      const runs = await runsOf(enr.workflowId);
      return runs.reduce((n, h) => n + count(h, 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED'), 0) >= NOISE;
    });
    expect((await e.api('GET', `/v1/enrollments/${enr.id}`)).body.status).toBe('active');
    await event('evt-h-quote', 'form.submitted', 'h-noise', { form: 'quote' });
    const done = await ended(enr.id);
    expect(done.timeline.map((s: any) => [s.stepId, s.status])).toEqual([
      ['quote', 'done'],
      ['thanks', 'done'],
    ]);
    await histories('long-wait-noise', enr.workflowId);
  });
});
