/**
 * /v1/automations against a real PostgreSQL: drafts, versions with pinned template versions,
 * definition validation (every problem at once, exact pointers), the lifecycle and its outbox
 * rows, every illegal transition (409), deletion rules, tenancy. After every rejected request the
 * workspace's rows are unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotWorkspace, startTestApp, type TestApp } from '../helpers/app';
import type { ApiClient } from '../client';
import { EXAMPLE_DEFINITION } from '#services/api/schemas/automation';
import type { AutomationDefinition } from '#domain/definition';

let t: TestApp;

const TEMPLATES = [
  { id: 'tpl_howwas_a', name: 'How was it? (A)', channel: 'email' as const, content: { subject: 'How was it, {{ record.name }}?', text: 'Rate us (A)' } },
  { id: 'tpl_howwas_b', name: 'How was it? (B)', channel: 'email' as const, content: { subject: 'Quick question, {{ record.name }}', text: 'Rate us (B)' } },
  { id: 'tpl_reminder', name: 'Reminder', channel: 'email' as const, content: { subject: 'Still time to rate', text: 'Reminder v1' } },
  { id: 'tpl_referral', name: 'Referral', channel: 'email' as const, content: { subject: 'Tell a friend', text: 'Referral' } },
  { id: 'tpl_call_back', name: 'Call back', channel: 'task' as const, content: { title: 'Call {{ record.name }} back', body: 'Rated {{ event.rating }}' } },
  { id: 'tpl_sms', name: 'SMS', channel: 'sms' as const, content: { body: 'Hi {{ record.name }}' } },
];

async function seedTemplates(client: ApiClient) {
  for (const body of TEMPLATES) {
    const { response } = await client.POST('/v1/templates', { body });
    expect(response.status).toBe(201);
  }
}

beforeAll(async () => {
  t = await startTestApp();
  await seedTemplates(t.client);
});
afterAll(async () => {
  await t?.close();
});

const clone = (): AutomationDefinition => structuredClone(EXAMPLE_DEFINITION);

async function unchanged<T>(fn: () => Promise<T>): Promise<T> {
  const before = await snapshotWorkspace(t.db, t.workspaceId);
  const result = await fn();
  expect(await snapshotWorkspace(t.db, t.workspaceId)).toEqual(before);
  return result;
}

async function create(def: AutomationDefinition = clone()) {
  const { data, response, error } = await t.client.POST('/v1/automations', { body: def as never });
  expect(error).toBeUndefined();
  expect(response.status).toBe(201);
  return data!;
}

const path = (id: string) => ({ params: { path: { id } } });

async function outboxFor(automationId: string) {
  const rows = await t.db
    .selectFrom('outbox')
    .select(['kind', 'payload'])
    .where('workspace_id', '=', t.workspaceId)
    .where((eb) => eb(eb.ref('payload', '->>').key('automationId' as never), '=', automationId))
    .orderBy('id')
    .execute();
  return rows.map((r) => r.payload);
}

type Status = 'draft' | 'active' | 'paused' | 'inactive';

/** A fresh automation in the given status. */
async function automationIn(status: Status): Promise<string> {
  const a = await create();
  if (status === 'draft') return a.id;
  expect((await t.client.POST('/v1/automations/{id}/activate', { ...path(a.id), body: { onlyNew: true } })).response.status).toBe(200);
  if (status === 'paused') expect((await t.client.POST('/v1/automations/{id}/pause', path(a.id))).response.status).toBe(200);
  if (status === 'inactive')
    expect((await t.client.POST('/v1/automations/{id}/deactivate', { ...path(a.id), body: { inFlight: 'finish' } })).response.status).toBe(200);
  return a.id;
}

function act(id: string, action: 'activate' | 'pause' | 'resume' | 'deactivate') {
  switch (action) {
    case 'activate':
      return t.client.POST('/v1/automations/{id}/activate', { ...path(id), body: { onlyNew: true } });
    case 'pause':
      return t.client.POST('/v1/automations/{id}/pause', path(id));
    case 'resume':
      return t.client.POST('/v1/automations/{id}/resume', path(id));
    case 'deactivate':
      return t.client.POST('/v1/automations/{id}/deactivate', { ...path(id), body: { inFlight: 'cancel' } });
  }
}

describe('create, read, list', () => {
  it('creates a draft as version 1 pinning the current template versions', async () => {
    const a = await create();
    expect(a).toMatchObject({
      name: 'Post-service follow-up',
      status: 'draft',
      version: 1,
      currentVersion: 1,
      onlyNew: null,
      activatedAt: null,
      trigger: EXAMPLE_DEFINITION.trigger,
      templateVersions: { tpl_howwas_a: 1, tpl_howwas_b: 1, tpl_reminder: 1, tpl_referral: 1, tpl_call_back: 1 },
    });
    expect(a.id).toMatch(/^aut_/);
    expect(a.definition).toEqual(EXAMPLE_DEFINITION);
    const got = await t.client.GET('/v1/automations/{id}', path(a.id));
    expect(got.data).toEqual(a);
  });

  it('lists by status and trigger type with cursor pagination', async () => {
    const ws = await t.otherWorkspace();
    await seedTemplates(ws.client);
    const manual = { ...clone(), name: 'Manual one', trigger: { type: 'manual' as const } };
    const ids: string[] = [];
    for (const def of [clone(), manual, clone()]) ids.push((await ws.client.POST('/v1/automations', { body: def as never })).data!.id);
    await ws.client.POST('/v1/automations/{id}/activate', { ...path(ids[2]!), body: { onlyNew: true } });

    const all = await ws.client.GET('/v1/automations', { params: { query: { limit: 2 } } });
    expect(all.data!.items.map((a) => a.id)).toEqual([ids[2], ids[1]]);
    const rest = await ws.client.GET('/v1/automations', { params: { query: { limit: 2, cursor: all.data!.nextCursor! } } });
    expect(rest.data!.items.map((a) => a.id)).toEqual([ids[0]]);
    expect(rest.data!.nextCursor).toBeNull();

    const active = await ws.client.GET('/v1/automations', { params: { query: { status: 'active' } } });
    expect(active.data!.items.map((a) => a.id)).toEqual([ids[2]]);
    const manualOnly = await ws.client.GET('/v1/automations', { params: { query: { trigger: 'manual' } } });
    expect(manualOnly.data!.items.map((a) => a.id)).toEqual([ids[1]]);
    const drafts = await ws.client.GET('/v1/automations', { params: { query: { status: 'draft', trigger: 'event' } } });
    expect(drafts.data!.items.map((a) => a.id)).toEqual([ids[0]]);

    const bad = await ws.client.GET('/v1/automations', { params: { query: { status: 'running' as never } } });
    expect(bad.response.status).toBe(400);
    expect(bad.error!.field).toBe('/querystring/status');
  });
});

describe('versions', () => {
  it('an edit writes version 2 with the template versions current then; version 1 keeps its pins', async () => {
    const a = await create();
    // The reminder template changes after version 1 was saved.
    await t.client.PUT('/v1/templates/{id}', { ...path('tpl_reminder'), body: { content: { subject: 'Still time to rate', text: 'Reminder v2' } } });

    const def2 = clone();
    def2.name = 'Post-service follow-up (shorter wait)';
    def2.steps[0] = { id: 'w1', type: 'wait', duration: 'PT1H' };
    const put = await t.client.PUT('/v1/automations/{id}', { ...path(a.id), body: def2 as never });
    expect(put.response.status).toBe(200);
    expect(put.data).toMatchObject({ id: a.id, name: def2.name, version: 2, currentVersion: 2, status: 'draft' });
    expect(put.data!.templateVersions.tpl_reminder).toBe(2);

    const versions = await t.client.GET('/v1/automations/{id}/versions', path(a.id));
    expect(versions.data!.items.map((v) => [v.version, v.current, v.name, v.templateVersions.tpl_reminder])).toEqual([
      [2, true, def2.name, 2],
      [1, false, 'Post-service follow-up', 1],
    ]);
    expect(versions.data!.items[1]!.definition).toEqual(EXAMPLE_DEFINITION);

    const rows = await t.db
      .selectFrom('automation_versions')
      .select(['version', 'definition', 'template_versions'])
      .where('workspace_id', '=', t.workspaceId)
      .where('automation_id', '=', a.id)
      .orderBy('version')
      .execute();
    expect(rows).toHaveLength(2);
    expect(rows[0]!.definition).toEqual(EXAMPLE_DEFINITION);
    expect(rows[0]!.template_versions.tpl_reminder).toBe(1);
    expect(rows[1]!.definition).toEqual(def2);

    const paged = await t.client.GET('/v1/automations/{id}/versions', { params: { path: { id: a.id }, query: { limit: 1 } } });
    expect(paged.data!.items.map((v) => v.version)).toEqual([2]);
    const next = await t.client.GET('/v1/automations/{id}/versions', { params: { path: { id: a.id }, query: { limit: 1, cursor: paged.data!.nextCursor! } } });
    expect(next.data!.items.map((v) => v.version)).toEqual([1]);
  });

  it('an active automation can be edited: new enrollments get the new version', async () => {
    const id = await automationIn('active');
    const def = clone();
    def.settings = { ...def.settings, reentry: 'once' };
    const put = await t.client.PUT('/v1/automations/{id}', { ...path(id), body: def as never });
    expect(put.data).toMatchObject({ status: 'active', currentVersion: 2 });
  });
});

describe('definition validation', () => {
  async function rejected(def: unknown) {
    const { error, response } = await unchanged(() => t.client.POST('/v1/automations', { body: def as never }));
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    return error!.errors!;
  }

  it('refuses a duration past ten years (P999999999Y gave NaN timers) with its pointer, writing nothing', async () => {
    const def = clone();
    def.steps.splice(1, 0, { id: 'forever', type: 'wait', duration: 'P999999999Y' } as never);
    expect(await rejected(def)).toEqual([{ field: '/body/steps/1/duration', message: 'must be at most P10Y (about 3653 days)' }]);
  });

  it('names a missing template', async () => {
    const def = clone();
    (def.steps[3] as { template: string }).template = 'tpl_nope';
    expect(await rejected(def)).toEqual([{ field: '/body/steps/3/template', message: expect.stringContaining('tpl_nope') }]);
  });

  it('names a template of the wrong channel', async () => {
    const def = clone();
    (def.steps[5] as { template: string }).template = 'tpl_sms';
    expect(await rejected(def)).toEqual([{ field: '/body/steps/5/template', message: expect.stringMatching(/sms/) }]);
  });

  it('names a bad next target', async () => {
    const def = clone();
    def.steps[3] = { ...def.steps[3]!, next: 'nowhere' } as AutomationDefinition['steps'][number];
    expect(await rejected(def)).toEqual([{ field: '/body/steps/3/next', message: expect.stringContaining('nowhere') }]);
  });

  it('reports several problems at once', async () => {
    const def = clone();
    (def.steps[1] as { variants: Array<{ template: string }> }).variants[1]!.template = 'tpl_missing_b';
    (def.steps[6] as { template: string }).template = 'tpl_howwas_a'; // an email template on a task step
    (def.steps[2] as { onTimeout: string }).onTimeout = 'remindr';
    const errors = await rejected(def);
    // Step 3 (remind) is no longer reached once onTimeout points elsewhere: reported too.
    expect(errors.map((e) => e.field).sort()).toEqual([
      '/body/steps/1/variants/1/template',
      '/body/steps/2/onTimeout',
      '/body/steps/3',
      '/body/steps/6/template',
    ]);
  });

  it('rejects a deleted template', async () => {
    await t.client.POST('/v1/templates', { body: { id: 'tpl_gone', name: 'Gone', channel: 'email', content: { subject: 's', text: 't' } } });
    await t.client.DELETE('/v1/templates/{id}', path('tpl_gone'));
    const def = clone();
    (def.steps[3] as { template: string }).template = 'tpl_gone';
    expect((await rejected(def)).map((e) => e.field)).toEqual(['/body/steps/3/template']);
  });

  it('rejects unknown fields and wrong types with their pointers', async () => {
    const def = clone() as unknown as Record<string, unknown> & { steps: Array<Record<string, unknown>> };
    def.colour = 'red';
    def.steps[0]!.duration = 7200;
    const errors = await rejected(def);
    expect(errors.map((e) => e.field)).toEqual(expect.arrayContaining(['/body/colour', '/body/steps/0/duration']));
  });

  it('refuses reserved keys (__proto__, constructor, prototype) in update_record keys and values with their pointers, writing nothing', async () => {
    const def = {
      name: 'Reserved keys',
      trigger: { type: 'manual' },
      steps: [
        { id: 'a', type: 'wait', duration: 'PT1H' },
        { id: 'b', type: 'update_record', set: { 'attributes.plan': { constructor: 'x' } } },
        { id: 'c', type: 'update_record', set: { stage: 'won', 'attributes.__proto__': 'x' } },
      ],
    };
    expect(await rejected(def)).toEqual([
      { field: '/body/steps/1/set/attributes.plan/constructor', message: '"constructor" is a reserved key' },
      { field: '/body/steps/2/set/attributes.__proto__', message: '"__proto__" is a reserved key' },
    ]);
  });

  it("checks update_record values against the record's fields (owner a user of this workspace) with their pointers, writing nothing", async () => {
    expect((await t.client.POST('/v1/users', { body: { id: 'owner-ana', name: 'Ana' } })).response.status).toBe(201);
    const def = (set: Record<string, unknown>) => ({ name: 'Update', trigger: { type: 'manual' }, steps: [{ id: 'a', type: 'update_record', set }] });
    expect(await rejected(def({ email: 'ana-at-example', phone: '0722', ownerId: 'owner-nobody', stage: '' }))).toEqual([
      { field: '/body/steps/0/set/email', message: 'must be an email address (or null to clear it)' },
      { field: '/body/steps/0/set/phone', message: 'must be an E.164 phone number, e.g. +14155550100 (or null to clear it)' },
      { field: '/body/steps/0/set/ownerId', message: 'no user has the id "owner-nobody"' },
      { field: '/body/steps/0/set/stage', message: 'must be a non-empty string of at most 100 characters (or null to clear it)' },
    ]);
    await create(def({ email: 'ana@example.com', phone: '+40722123456', ownerId: 'owner-ana', stage: 'won' }) as never);
  });

  it('rejects an edit with problems and keeps the current version', async () => {
    const a = await create();
    const def = clone();
    (def.steps[3] as { template: string }).template = 'tpl_nope';
    const { response, error } = await unchanged(() => t.client.PUT('/v1/automations/{id}', { ...path(a.id), body: def as never }));
    expect(response.status).toBe(400);
    expect(error!.errors).toEqual([{ field: '/body/steps/3/template', message: expect.any(String) }]);
    expect((await t.client.GET('/v1/automations/{id}', path(a.id))).data!.currentVersion).toBe(1);
  });
});

describe("the workflow input's size", () => {
  // Each template about 900 KB of JSON (the API's 1 MiB body limit allows one that large): one fits
  // an enrollment's workflow input, two pass Temporal's 2 MiB payload limit with the record beside them.
  const big = (id: string) => ({
    id,
    name: id,
    channel: 'email' as const,
    content: { subject: 'Big', html: `<p>${'h'.repeat(450_000)}</p>`, text: 't'.repeat(450_000) },
  });
  const sending = (...templates: string[]): AutomationDefinition => ({
    name: 'Large',
    trigger: { type: 'event', event: 'signed_up' },
    steps: templates.map((template, i) => ({ id: `send${i}`, type: 'email', to: 'record', template })),
  });
  beforeAll(async () => {
    for (const id of ['tpl_big_1', 'tpl_big_2']) expect((await t.client.POST('/v1/templates', { body: big(id) })).response.status).toBe(201);
  });

  it('refuses a definition whose templates pass the limit at save, naming the template that passes it and the limit, writing nothing (accepted before)', async () => {
    expect((await t.client.POST('/v1/automations', { body: sending('tpl_big_1', 'tpl_big_1') as never })).response.status).toBe(201);
    const { response, error } = await unchanged(() => t.client.POST('/v1/automations', { body: sending('tpl_big_1', 'tpl_big_2') as never }));
    expect(response.status).toBe(400);
    expect(error!.errors).toEqual([
      {
        field: '/body/steps/1/template',
        message: expect.stringMatching(
          /^the definition with the templates it uses takes 18\d{5} bytes of each enrollment's workflow input; at most 1572864 \(Temporal refuses a payload over 2097152\): use fewer or smaller templates$/,
        ),
      },
    ]);
  });

  it('refuses such an edit too and keeps the current version', async () => {
    const a = await create(sending('tpl_big_2'));
    const { response, error } = await unchanged(() =>
      t.client.PUT('/v1/automations/{id}', { ...path(a.id), body: sending('tpl_big_2', 'tpl_big_1') as never }),
    );
    expect(response.status).toBe(400);
    expect(error!.field).toBe('/body/steps/1/template');
    expect((await t.client.GET('/v1/automations/{id}', path(a.id))).data!.currentVersion).toBe(1);
  });
});

describe('lifecycle', () => {
  it('activate with onlyNew=false asks the router for a backfill, in the same transaction', async () => {
    const a = await create();
    const res = await t.client.POST('/v1/automations/{id}/activate', { ...path(a.id), body: { onlyNew: false } });
    expect(res.response.status).toBe(200);
    expect(res.data).toMatchObject({ status: 'active', onlyNew: false });
    expect(res.data!.activatedAt).toBeTypeOf('string');
    expect(await outboxFor(a.id)).toEqual([{ kind: 'automation_backfill', automationId: a.id }]);
  });

  it('a backfill no router has reached yet: cancelled at once, then final; pause cancels one too and resume does not restart it', async () => {
    const stageDef = (): AutomationDefinition => ({ ...clone(), trigger: { type: 'stage_entered', stage: 'lapsed' } });
    const a = await create(stageDef());
    await t.client.POST('/v1/automations/{id}/activate', { ...path(a.id), body: { onlyNew: false } });
    expect((await t.client.GET('/v1/automations/{id}', path(a.id))).data!.backfill).toEqual({ status: 'running', enrolled: 0, cancelledAt: null });
    const cancelled = await t.client.POST('/v1/automations/{id}/backfill/cancel', path(a.id));
    expect(cancelled.response.status).toBe(200);
    expect(cancelled.data).toMatchObject({ status: 'active', backfill: { status: 'cancelled', enrolled: 0 } });
    const at = cancelled.data!.backfill!.cancelledAt!;
    expect(Date.parse(at)).toBeGreaterThan(Date.now() - 60_000);
    expect(await outboxFor(a.id)).toEqual([]); // nothing left for a router to resume
    expect((await t.client.GET('/v1/automations/{id}', path(a.id))).data!.backfill).toEqual({ status: 'cancelled', enrolled: 0, cancelledAt: at });
    const again = await unchanged(() => t.client.POST('/v1/automations/{id}/backfill/cancel', path(a.id)));
    expect(again.data!.backfill).toEqual({ status: 'cancelled', enrolled: 0, cancelledAt: at });

    const b = await create(stageDef());
    await t.client.POST('/v1/automations/{id}/activate', { ...path(b.id), body: { onlyNew: false } });
    expect((await t.client.POST('/v1/automations/{id}/pause', path(b.id))).data!.status).toBe('paused');
    expect((await t.client.GET('/v1/automations/{id}', path(b.id))).data!.backfill).toMatchObject({ status: 'cancelled', enrolled: 0 });
    await t.client.POST('/v1/automations/{id}/resume', path(b.id));
    expect((await t.client.GET('/v1/automations/{id}', path(b.id))).data!.backfill).toMatchObject({ status: 'cancelled', enrolled: 0 });
    expect(await outboxFor(b.id)).toEqual([
      { kind: 'automation_lifecycle', automationId: b.id, action: 'pause' },
      { kind: 'automation_lifecycle', automationId: b.id, action: 'resume' },
    ]);
    // Deactivated and activated again: a new backfill, no longer cancelled.
    await t.client.POST('/v1/automations/{id}/deactivate', { ...path(b.id), body: { inFlight: 'finish' } });
    await t.client.POST('/v1/automations/{id}/activate', { ...path(b.id), body: { onlyNew: false } });
    expect((await t.client.GET('/v1/automations/{id}', path(b.id))).data!.backfill).toEqual({ status: 'running', enrolled: 0, cancelledAt: null });
  });

  it('cancelling a backfill that is not running answers 409 and changes nothing; an unknown automation 404', async () => {
    const onlyNew = await automationIn('active');
    const res = await unchanged(() => t.client.POST('/v1/automations/{id}/backfill/cancel', path(onlyNew)));
    expect(res.response.status).toBe(409);
    expect(res.error).toMatchObject({
      field: '/backfill/status',
      detail: `automation ${onlyNew} has no backfill running: it was not activated with onlyNew: false`,
    });
    const date = await create({ ...clone(), trigger: { type: 'date', field: 'record.attributes.renews_at', offset: '-P7D' } });
    await t.db.updateTable('automations').set({ status: 'active', only_new: false }).where('id', '=', date.id).execute();
    const swept = await unchanged(() => t.client.POST('/v1/automations/{id}/backfill/cancel', path(date.id)));
    expect(swept.response.status).toBe(409);
    expect(swept.error!.detail).toContain('its date trigger reaches matching records through its sweep');
    const missing = await t.client.POST('/v1/automations/{id}/backfill/cancel', path('aut_nope'));
    expect(missing.response.status).toBe(404);
  });

  it('activate with onlyNew=true writes no backfill; pause, resume and deactivate fan out', async () => {
    const a = await create();
    expect((await t.client.POST('/v1/automations/{id}/activate', { ...path(a.id), body: { onlyNew: true } })).data).toMatchObject({
      status: 'active',
      onlyNew: true,
    });
    expect(await outboxFor(a.id)).toEqual([]);
    expect((await t.client.POST('/v1/automations/{id}/pause', path(a.id))).data!.status).toBe('paused');
    expect((await t.client.POST('/v1/automations/{id}/resume', path(a.id))).data!.status).toBe('active');
    expect((await t.client.POST('/v1/automations/{id}/deactivate', { ...path(a.id), body: { inFlight: 'cancel' } })).data!.status).toBe('inactive');
    expect(await outboxFor(a.id)).toEqual([
      { kind: 'automation_lifecycle', automationId: a.id, action: 'pause' },
      { kind: 'automation_lifecycle', automationId: a.id, action: 'resume' },
      { kind: 'automation_lifecycle', automationId: a.id, action: 'cancel' },
    ]);
  });

  it('deactivate with finish: nothing to do when active, resume the held records when paused', async () => {
    const active = await automationIn('active');
    await t.client.POST('/v1/automations/{id}/deactivate', { ...path(active), body: { inFlight: 'finish' } });
    expect(await outboxFor(active)).toEqual([]);
    const paused = await automationIn('paused');
    const res = await t.client.POST('/v1/automations/{id}/deactivate', { ...path(paused), body: { inFlight: 'finish' } });
    expect(res.data!.status).toBe('inactive');
    expect(await outboxFor(paused)).toEqual([
      { kind: 'automation_lifecycle', automationId: paused, action: 'pause' },
      { kind: 'automation_lifecycle', automationId: paused, action: 'resume' },
    ]);
  });

  it('onlyNew is required at the first activation and fixed afterwards', async () => {
    const a = await create();
    const missing = await unchanged(() => t.client.POST('/v1/automations/{id}/activate', { ...path(a.id), body: {} }));
    expect(missing.response.status).toBe(400);
    expect(missing.error!.field).toBe('/body/onlyNew');

    await t.client.POST('/v1/automations/{id}/activate', { ...path(a.id), body: { onlyNew: true } });
    await t.client.POST('/v1/automations/{id}/deactivate', { ...path(a.id), body: { inFlight: 'finish' } });
    const changed = await unchanged(() => t.client.POST('/v1/automations/{id}/activate', { ...path(a.id), body: { onlyNew: false } }));
    expect(changed.response.status).toBe(409);
    expect(changed.error!.detail).toContain('cannot be modified');
    // Re-activation repeats or omits it.
    const again = await t.client.POST('/v1/automations/{id}/activate', { ...path(a.id), body: {} });
    expect(again.data).toMatchObject({ status: 'active', onlyNew: true });
  });

  const ILLEGAL: Array<[Status, 'activate' | 'pause' | 'resume' | 'deactivate']> = [
    ['draft', 'pause'],
    ['draft', 'resume'],
    ['draft', 'deactivate'],
    ['active', 'activate'],
    ['active', 'resume'],
    ['paused', 'activate'],
    ['paused', 'pause'],
    ['inactive', 'pause'],
    ['inactive', 'resume'],
    ['inactive', 'deactivate'],
  ];
  it.each(ILLEGAL)('%s -> %s answers 409 naming the status and changes nothing', async (status, action) => {
    const id = await automationIn(status);
    const { response, error } = await unchanged(() => act(id, action));
    expect(response.status).toBe(409);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(error!.detail).toContain(`is ${status}`);
    expect((await t.client.GET('/v1/automations/{id}', path(id))).data!.status).toBe(status);
  });

  it('refuses to activate a draft whose template was deleted since it was saved', async () => {
    await t.client.POST('/v1/templates', { body: { id: 'tpl_later_gone', name: 'x', channel: 'email', content: { subject: 's', text: 't' } } });
    const def = clone();
    (def.steps[3] as { template: string }).template = 'tpl_later_gone';
    const a = await create(def);
    await t.client.DELETE('/v1/templates/{id}', path('tpl_later_gone'));
    const { response, error } = await unchanged(() => t.client.POST('/v1/automations/{id}/activate', { ...path(a.id), body: { onlyNew: true } }));
    expect(response.status).toBe(409);
    expect(error!.errors).toEqual([{ field: '/definition/steps/3/template', message: expect.any(String) }]);
  });

  it('rejects a bad inFlight value', async () => {
    const id = await automationIn('active');
    const { response, error } = await unchanged(() => t.client.POST('/v1/automations/{id}/deactivate', { ...path(id), body: { inFlight: 'later' as never } }));
    expect(response.status).toBe(400);
    expect(error!.field).toBe('/body/inFlight');
  });
});

describe('delete', () => {
  it.each(['active', 'paused'] as const)('an %s automation answers 409 (deactivate first)', async (status) => {
    const id = await automationIn(status);
    const { response, error } = await unchanged(() => t.client.DELETE('/v1/automations/{id}', path(id)));
    expect(response.status).toBe(409);
    expect(error!.detail).toContain('deactivate it first');
  });

  it.each(['draft', 'inactive'] as const)('a %s automation is soft-deleted, its history kept', async (status) => {
    const id = await automationIn(status);
    expect((await t.client.DELETE('/v1/automations/{id}', path(id))).response.status).toBe(204);
    expect((await t.client.GET('/v1/automations/{id}', path(id))).response.status).toBe(404);
    expect((await t.client.GET('/v1/automations', {})).data!.items.map((a) => a.id)).not.toContain(id);
    const row = await t.db
      .selectFrom('automations')
      .select(['deleted_at'])
      .where('workspace_id', '=', t.workspaceId)
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.deleted_at).toBeInstanceOf(Date);
    const versions = await t.db
      .selectFrom('automation_versions')
      .select('version')
      .where('workspace_id', '=', t.workspaceId)
      .where('automation_id', '=', id)
      .execute();
    expect(versions).toHaveLength(1);
    expect((await unchanged(() => act(id, 'activate'))).response.status).toBe(404);
  });

  it('a template used by an active automation cannot be deleted until it is deactivated', async () => {
    await t.client.POST('/v1/templates', { body: { id: 'tpl_in_use', name: 'x', channel: 'task', content: { title: 'Call' } } });
    const def = clone();
    (def.steps[6] as { template: string }).template = 'tpl_in_use';
    const a = await create(def);
    // A draft does not hold it... but an active one does.
    await t.client.POST('/v1/automations/{id}/activate', { ...path(a.id), body: { onlyNew: true } });
    const blocked = await unchanged(() => t.client.DELETE('/v1/templates/{id}', path('tpl_in_use')));
    expect(blocked.response.status).toBe(409);
    expect(blocked.error!.detail).toContain(a.id);
    await t.client.POST('/v1/automations/{id}/deactivate', { ...path(a.id), body: { inFlight: 'finish' } });
    expect((await t.client.DELETE('/v1/templates/{id}', path('tpl_in_use'))).response.status).toBe(204);
    // The automation version still pins it, and its versions are still readable.
    expect((await t.client.GET('/v1/automations/{id}', path(a.id))).data!.templateVersions.tpl_in_use).toBe(1);
    expect((await t.client.GET('/v1/templates/{id}/versions', path('tpl_in_use'))).data!.items).toHaveLength(1);
  });
});

describe('tenancy', () => {
  it("answers 404 for another workspace's automation on every route and changes nothing", async () => {
    const id = await automationIn('active');
    const other = await t.otherWorkspace();
    const before = await snapshotWorkspace(t.db, t.workspaceId);
    const p = path(id);
    const statuses = [
      (await other.client.GET('/v1/automations/{id}', p)).response.status,
      (await other.client.GET('/v1/automations/{id}/versions', p)).response.status,
      (await other.client.PUT('/v1/automations/{id}', { ...p, body: { ...clone(), steps: [{ id: 'w', type: 'wait', duration: 'PT1H' }] } as never })).response
        .status,
      (await other.client.DELETE('/v1/automations/{id}', p)).response.status,
      (await other.client.POST('/v1/automations/{id}/activate', { ...p, body: { onlyNew: true } })).response.status,
      (await other.client.POST('/v1/automations/{id}/pause', p)).response.status,
      (await other.client.POST('/v1/automations/{id}/resume', p)).response.status,
      (await other.client.POST('/v1/automations/{id}/deactivate', { ...p, body: { inFlight: 'cancel' } })).response.status,
      (await other.client.POST('/v1/automations/{id}/backfill/cancel', p)).response.status,
    ];
    expect(statuses).toEqual([404, 404, 404, 404, 404, 404, 404, 404, 404]);
    expect((await other.client.GET('/v1/automations', {})).data!.items).toEqual([]);
    expect(await snapshotWorkspace(t.db, t.workspaceId)).toEqual(before);
  });

  it("cannot use another workspace's templates", async () => {
    const other = await t.otherWorkspace();
    const { response, error } = await other.client.POST('/v1/automations', { body: clone() as never });
    expect(response.status).toBe(400);
    expect(error!.errors!.map((e) => e.field).sort()).toEqual([
      '/body/steps/1/variants/0/template',
      '/body/steps/1/variants/1/template',
      '/body/steps/3/template',
      '/body/steps/5/template',
      '/body/steps/6/template',
    ]);
  });
});

describe('OpenAPI', () => {
  it('carries the definition schema and the example', async () => {
    const res = await fetch(`${t.baseUrl}/openapi.json`);
    const doc = (await res.json()) as {
      paths: Record<string, Record<string, { requestBody?: unknown; tags?: string[]; summary?: string }>>;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.components.schemas.AutomationDefinition).toBeDefined();
    const post = doc.paths['/v1/automations']!.post!;
    expect(post.tags).toEqual(['automations']);
    expect(JSON.stringify(post.requestBody)).toContain('Post-service follow-up');
    for (const p of [
      '/v1/automations/{id}/activate',
      '/v1/automations/{id}/pause',
      '/v1/automations/{id}/resume',
      '/v1/automations/{id}/deactivate',
      '/v1/automations/{id}/versions',
    ]) {
      expect(doc.paths[p]).toBeDefined();
    }
  });
});
