/**
 * GET /v1/automations/{id}/stats and GET /v1/stats against a real PostgreSQL. The rows are written
 * the way the engine, the send activities and the provider webhooks write them (direct inserts):
 * the routes only count them, so each figure below is checked against a hand-counted fixture.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import type { Db } from '#db/connection';

let t: TestApp;
let lead: string;
let other: string;

const window = { from: '2026-11-01T00:00:00.000Z', to: '2026-12-01T00:00:00.000Z' };
const at = (day: number, hour = 10) => new Date(Date.UTC(2026, 10, day, hour));
const before = new Date('2026-10-01T10:00:00Z');

async function createAutomation(name: string): Promise<string> {
  const res = await t.client.POST('/v1/automations', {
    body: { name, trigger: { type: 'manual' }, steps: [{ id: 'wait1', type: 'wait', duration: 'P1D' }] },
  });
  expect(res.response.status).toBe(201);
  return res.data!.id;
}

async function seedEnrollments(
  db: Db,
  workspaceId: string,
  automationId: string,
  rows: Array<[string, string, Partial<{ step: string; reason: string; converted: boolean; started: Date; ended: Date }>]>,
) {
  await db
    .insertInto('enrollments')
    .values(
      rows.map(([id, status, o], i) => ({
        id: `${workspaceId}_${id}`,
        workspace_id: workspaceId,
        automation_id: automationId,
        version: 1,
        record_id: `rec_${id}`,
        seq: i + 1,
        workflow_id: `wf_${workspaceId}_${id}`,
        status: status as 'active',
        current_step: o.step ?? null,
        exit_reason: o.reason ?? null,
        converted: o.converted ?? false,
        started_at: o.started ?? at(2),
        ended_at: o.ended ?? null,
        updated_at: o.ended ?? at(2),
      })),
    )
    .execute();
}

interface M {
  id: string;
  step: string;
  channel: string;
  to: string;
  status: string;
  variant?: string;
  sent?: Date;
  created?: Date;
  test?: boolean;
}

async function seedMessages(db: Db, workspaceId: string, automationId: string, rows: M[]) {
  await db
    .insertInto('messages')
    .values(
      rows.map((m) => ({
        id: `${workspaceId}_${m.id}`,
        workspace_id: workspaceId,
        idempotency_key: `${workspaceId}_${m.id}`,
        automation_id: automationId,
        step_id: m.step,
        channel: m.channel,
        to: m.to,
        variant: m.variant ?? null,
        status: m.status as 'sent',
        created_at: m.created ?? m.sent ?? at(3),
        sent_at: m.sent ?? null,
        test: m.test ?? false,
      })),
    )
    .execute();
}

beforeAll(async () => {
  t = await startTestApp();
  lead = await createAutomation('Lead nurture');
  other = await createAutomation('Reactivation');
  const ws = t.workspaceId;

  await seedEnrollments(t.db, ws, lead, [
    ['e1', 'active', { step: 'wait1' }],
    ['e2', 'paused', { step: 'wait1', started: before }],
    ['e3', 'completed', { ended: at(10) }],
    ['e4', 'exited', { reason: 'event:message.replied', ended: at(11) }],
    ['e5', 'exited', { reason: 'goal', converted: true, ended: at(12) }],
    ['e6', 'failed', { ended: at(13) }],
    // ended before the window: not counted
    ['e7', 'completed', { started: before, ended: new Date('2026-10-15T10:00:00Z') }],
  ]);
  await seedEnrollments(t.db, ws, other, [['o1', 'active', { step: 'wait1' }]]);

  await seedMessages(t.db, ws, lead, [
    { id: 'm12', step: 'intro', channel: 'email', to: 'bo@example.com', status: 'sent', variant: 'A', sent: at(4, 9) },
    { id: 'm1', step: 'intro', channel: 'email', to: 'ana@example.com', status: 'clicked', variant: 'A', sent: at(5) },
    { id: 'm2', step: 'intro', channel: 'email', to: 'bo@example.com', status: 'delivered', variant: 'B', sent: at(5) },
    { id: 'm3', step: 'intro', channel: 'email', to: 'cy@example.com', status: 'bounced', variant: 'A', sent: at(5) },
    { id: 'm4', step: 'intro', channel: 'email', to: 'di@example.com', status: 'sandboxed', variant: 'B', sent: at(5) },
    { id: 'm5', step: 'sms1', channel: 'sms', to: '+15550000005', status: 'sent', sent: at(6) },
    { id: 'm6', step: 'sms1', channel: 'sms', to: '+15550000006', status: 'delivered', sent: at(6) },
    { id: 'm7', step: 'sms1', channel: 'sms', to: '+15550000006', status: 'suppressed', created: at(8) },
    { id: 'm8', step: 'sms1', channel: 'sms', to: '+15550000008', status: 'failed', created: at(6) },
    { id: 'm9', step: 'sms1', channel: 'sms', to: '+15550000009', status: 'failed', created: at(6) }, // expired
    // never counted: a test send, and a message before the window
    { id: 'm10', step: 'intro', channel: 'email', to: 'ana@example.com', status: 'sent', variant: 'A', sent: at(5), test: true },
    { id: 'm11', step: 'intro', channel: 'email', to: 'ana@example.com', status: 'opened', variant: 'A', sent: before },
  ]);
  await t.db
    .insertInto('message_events')
    .values(
      (
        [
          ['m1', 'delivered'],
          ['m1', 'opened'],
          ['m1', 'clicked'],
          ['m2', 'delivered'],
          ['m3', 'bounced'],
          ['m6', 'delivered'],
        ] as const
      ).map(([m, type], i) => ({
        workspace_id: ws,
        message_id: `${ws}_${m}`,
        dedupe_key: `${ws}_ev${i}`,
        provider: 'sendgrid' as const,
        type,
        occurred_at: at(5, 12),
        received_at: at(5, 12),
        payload: {},
      })),
    )
    .execute();
  await t.db
    .insertInto('inbound_messages')
    .values({
      id: `${ws}_in1`,
      workspace_id: ws,
      provider_id: 'SMin1',
      channel: 'sms',
      from: '+15550000005',
      to: '+15550009999',
      text: 'Yes, call me',
      message_id: `${ws}_m5`,
      received_at: at(6, 11),
    })
    .execute();
  // bo@ unsubscribed (link) after m2, the last email to that address before it; +1555…06 sent STOP after m6
  await t.db
    .insertInto('suppressions')
    .values([
      { workspace_id: ws, channel: 'email', address: 'bo@example.com', reason: 'unsubscribe link', source: 'unsubscribe_link', created_at: at(7) },
      { workspace_id: ws, channel: 'sms', address: '+15550000006', reason: 'STOP', source: 'sms_keyword', created_at: at(7) },
    ])
    .execute();

  // Another workspace's rows never count.
  const theirs = await t.otherWorkspace();
  const created = await theirs.client.POST('/v1/automations', {
    body: { name: 'Theirs', trigger: { type: 'manual' }, steps: [{ id: 'wait1', type: 'wait', duration: 'P1D' }] },
  });
  await seedEnrollments(t.db, theirs.workspaceId, created.data!.id, [['x1', 'active', { step: 'wait1' }]]);
  await seedMessages(t.db, theirs.workspaceId, created.data!.id, [
    { id: 'x1', step: 'intro', channel: 'email', to: 'zed@example.com', status: 'sent', sent: at(5) },
  ]);
});
afterAll(async () => {
  await t?.close();
});

const none = { sent: 0, delivered: 0, opened: 0, clicked: 0, bounced: 0, unsubscribed: 0, replied: 0, failed: 0, suppressed: 0 };

describe('GET /v1/automations/{id}/stats', () => {
  it('counts enrollments now and in the window, messages per step and variant, and the rates', async () => {
    const res = await t.client.GET('/v1/automations/{id}/stats', { params: { path: { id: lead }, query: window } });
    expect(res.response.status).toBe(200);
    const intro = { ...none, sent: 5, delivered: 2, opened: 1, clicked: 1, bounced: 1, unsubscribed: 1 };
    const sms1 = { ...none, sent: 2, delivered: 1, unsubscribed: 1, replied: 1, failed: 2, suppressed: 1 };
    expect(res.data).toEqual({
      automationId: lead,
      ...window,
      enrollments: {
        active: 1,
        paused: 1,
        started: 5,
        completed: 1,
        exited: 2,
        failed: 1,
        converted: 1,
        exitedByReason: { 'event:message.replied': 1, goal: 1 },
        byStep: { wait1: { waiting: 1, paused: 1 } },
      },
      messages: {
        total: { sent: 7, delivered: 3, opened: 1, clicked: 1, bounced: 1, unsubscribed: 2, replied: 1, failed: 2, suppressed: 1 },
        byStep: { intro, sms1 },
        byVariant: { A: { ...none, sent: 3, delivered: 1, opened: 1, clicked: 1, bounced: 1 }, B: { ...none, sent: 2, delivered: 1, unsubscribed: 1 } },
      },
      rates: { completion: 0.25, error: 0.25, conversion: 0.25, open: 0.1429, click: 0.1429, unsubscribe: 0.2857, reply: 0.1429 },
    });
  });

  it('gives null rates and zero counts for a window with nothing in it', async () => {
    const res = await t.client.GET('/v1/automations/{id}/stats', {
      params: { path: { id: lead }, query: { from: '2025-01-01T00:00:00Z', to: '2025-02-01T00:00:00Z' } },
    });
    expect(res.response.status).toBe(200);
    expect(res.data!.enrollments).toMatchObject({ active: 1, paused: 1, started: 0, completed: 0, exited: 0, failed: 0, converted: 0 });
    expect(res.data!.messages).toEqual({ total: none, byStep: {}, byVariant: {} });
    expect(res.data!.rates).toEqual({ completion: null, error: null, conversion: null, open: null, click: null, unsubscribe: null, reply: null });
  });

  it('refuses a window that is reversed or too long, and an unknown automation', async () => {
    const reversed = await t.client.GET('/v1/automations/{id}/stats', { params: { path: { id: lead }, query: { from: window.to, to: window.from } } });
    expect(reversed.response.status).toBe(400);
    expect(reversed.error).toMatchObject({ field: '/querystring/from', detail: '/querystring/from: must be before `to`' });
    const long = await t.client.GET('/v1/automations/{id}/stats', { params: { path: { id: lead }, query: { from: '2024-01-01T00:00:00Z', to: window.to } } });
    expect(long.response.status).toBe(400);
    expect(long.error).toMatchObject({ field: '/querystring/from', detail: '/querystring/from: the window may span at most 400 days' });
    const notADate = await fetch(`${t.baseUrl}/v1/automations/${lead}/stats?from=yesterday`, { headers: { authorization: `Bearer ${t.apiKey}` } });
    expect(notADate.status).toBe(400);
    expect(notADate.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const unknown = await t.client.GET('/v1/automations/{id}/stats', { params: { path: { id: 'aut_nope' }, query: window } });
    expect(unknown.response.status).toBe(404);
  });
});

describe('GET /v1/stats', () => {
  it("sums the workspace's automations, per channel, and lists each automation's enrollments", async () => {
    const res = await t.client.GET('/v1/stats', { params: { query: window } });
    expect(res.response.status).toBe(200);
    expect(res.data!.enrollments).toEqual({ active: 2, paused: 1, started: 6, completed: 1, exited: 2, failed: 1, converted: 1 });
    expect(res.data!.messages.byChannel).toEqual({
      email: { ...none, sent: 5, delivered: 2, opened: 1, clicked: 1, bounced: 1, unsubscribed: 1 },
      sms: { ...none, sent: 2, delivered: 1, unsubscribed: 1, replied: 1, failed: 2, suppressed: 1 },
    });
    expect(res.data!.rates).toEqual({ completion: 0.25, error: 0.25, conversion: 0.25, open: 0.1429, click: 0.1429, unsubscribe: 0.2857, reply: 0.1429 });
    expect(res.data!.automations.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { id: lead, name: 'Lead nurture', status: 'draft', enrollments: { active: 1, paused: 1, started: 5, completed: 1, exited: 2, failed: 1, converted: 1 } },
      { id: other, name: 'Reactivation', status: 'draft', enrollments: { active: 1, paused: 0, started: 1, completed: 0, exited: 0, failed: 0, converted: 0 } },
    ]);
  });

  // Found by Schemathesis: 30 days before this `to` is in year 0, which a date-time has no year for.
  it('starts the default window no earlier than 0001-01-01', async () => {
    const res = await t.client.GET('/v1/stats', { params: { query: { to: '0001-01-01T00:00:03Z' } } });
    expect(res.response.status).toBe(200);
    expect(res.data).toMatchObject({ from: '0001-01-01T00:00:00.000Z', to: '0001-01-01T00:00:03.000Z' });
  });
});
