/**
 * POST /v1/automations/{id}/preview on the seed recipes: exact due times, computed by the
 * workflow's own timing and condition code, and nothing written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotWorkspace } from '../helpers/app';
import { createAutomation, startEngineTest, type EngineTest } from './engine-support';
import { EXAMPLE_DEFINITION } from '#services/api/schemas/automation';

let e: EngineTest;

beforeAll(async () => {
  e = await startEngineTest({ worker: false });
});
afterAll(async () => {
  await e?.close();
});

/** The post-service follow-up, as written in docs/design.md §4 (the records here carry their own time zone). */
const postService = structuredClone(EXAMPLE_DEFINITION);

/** Seed 004: actions on days 0, 2 and 3 after initiation, actions 2+ between 2pm and 3pm EST. */
const sellerLead = {
  name: 'Seller lead follow-up',
  trigger: { type: 'manual' },
  exitWhen: [{ event: 'message.replied', notify: 'owner' }],
  settings: { timing: 'after_start', timezone: 'America/New_York' },
  steps: [
    { id: 'a1', type: 'sms', to: 'record', template: 'tpl_seller_sms' },
    { id: 'a2', type: 'email', to: 'record', template: 'tpl_seller_mail', delay: 'P2D', window: { days: 'any', from: '14:00', to: '15:00' } },
    { id: 'a3', type: 'task', assignee: 'owner', template: 'tpl_seller_task', delay: 'P3D', window: { days: 'any', from: '14:00', to: '15:00' } },
  ],
};

const templates = [
  { id: 'tpl_howwas_a' },
  { id: 'tpl_howwas_b' },
  { id: 'tpl_reminder' },
  { id: 'tpl_referral' },
  { id: 'tpl_call_back', channel: 'task' },
  { id: 'tpl_seller_sms', channel: 'sms' },
  { id: 'tpl_seller_mail' },
  { id: 'tpl_seller_task', channel: 'task' },
];

describe('preview', () => {
  let postServiceId: string;
  let sellerId: string;
  beforeAll(async () => {
    postServiceId = (await createAutomation(e, postService, { templates, activate: false })).id;
    sellerId = (await createAutomation(e, sellerLead, { activate: false })).id;
  });

  it('post-service: a 5-star rating 3 hours after the question leads to the referral email', async () => {
    const before = await snapshotWorkspace(e.t.db, e.t.workspaceId);
    const res = await e.api('POST', `/v1/automations/${postServiceId}/preview`, {
      record: { externalId: 'lead-1', timezone: 'Europe/Bucharest', attributes: { service: 'cleaning' } },
      startAt: '2026-11-23T10:00:00Z',
      events: [{ type: 'rating.received', at: '2026-11-23T15:00:00Z', properties: { rating: 5 } }],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.steps.map((s: any) => [s.stepId, s.type, s.dueAt])).toEqual([
      ['w1', 'wait', '2026-11-23T10:00:00.000Z'],
      ['ask', 'email', '2026-11-23T12:00:00.000Z'],
      ['rating', 'wait_for', '2026-11-23T12:00:00.000Z'],
      ['route', 'branch', '2026-11-23T15:00:00.000Z'],
      ['referral', 'email', '2026-11-23T15:00:00.000Z'],
    ]);
    expect(res.body).toMatchObject({ outcome: 'completed', exitReason: null, version: 1, endsAt: '2026-11-23T15:00:00.000Z' });
    expect(['tpl_howwas_a', 'tpl_howwas_b']).toContain(res.body.steps[1].detail.template);
    expect(await snapshotWorkspace(e.t.db, e.t.workspaceId)).toEqual(before);
  });

  it('post-service: no rating -> the reminder when the wait_for times out; a low rating -> the urgent task; a reply exits', async () => {
    const noRating = await e.api('POST', `/v1/automations/${postServiceId}/preview`, {
      record: { attributes: { service: 'cleaning' } },
      startAt: '2026-11-23T10:00:00Z',
    });
    expect(noRating.body.steps.map((s: any) => [s.stepId, s.dueAt])).toEqual([
      ['w1', '2026-11-23T10:00:00.000Z'],
      ['ask', '2026-11-23T12:00:00.000Z'],
      ['rating', '2026-11-23T12:00:00.000Z'],
      ['remind', '2026-11-24T12:00:00.000Z'],
    ]);
    expect(noRating.body.outcome).toBe('completed');

    const low = await e.api('POST', `/v1/automations/${postServiceId}/preview`, {
      record: {},
      startAt: '2026-11-23T10:00:00Z',
      events: [{ type: 'rating.received', at: '2026-11-23T20:30:00Z', properties: { rating: 2 } }],
    });
    expect(low.body.steps.slice(3).map((s: any) => [s.stepId, s.dueAt])).toEqual([
      ['route', '2026-11-23T20:30:00.000Z'],
      ['urgent', '2026-11-23T20:30:00.000Z'],
    ]);

    const replied = await e.api('POST', `/v1/automations/${postServiceId}/preview`, {
      record: {},
      startAt: '2026-11-23T10:00:00Z',
      events: [{ type: 'message.replied', at: '2026-11-23T13:00:00Z' }],
    });
    expect(replied.body).toMatchObject({ outcome: 'exited', exitReason: 'event:message.replied', endsAt: '2026-11-23T13:00:00.000Z' });
    expect(replied.body.steps.map((s: any) => s.stepId)).toEqual(['w1', 'ask', 'rating']);
  });

  it('seller lead (seed 004): day 0 at once, days 2 and 3 between 2 and 3 pm New York time', async () => {
    // Monday 2026-11-23 09:00 in New York (14:00Z).
    const res = await e.api('POST', `/v1/automations/${sellerId}/preview`, { record: {}, startAt: '2026-11-23T14:00:00Z' });
    expect(res.status).toBe(200);
    expect(res.body.steps.map((s: any) => [s.stepId, s.dueAt])).toEqual([
      ['a1', '2026-11-23T14:00:00.000Z'],
      ['a2', '2026-11-25T19:00:00.000Z'],
      ['a3', '2026-11-26T19:00:00.000Z'],
    ]);
  });

  it('validates strictly and answers problem+json', async () => {
    const bad = await e.api('POST', `/v1/automations/${postServiceId}/preview`, { record: {}, startAt: 'yesterday' });
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('/body/startAt');
    const unknownField = await e.api('POST', `/v1/automations/${postServiceId}/preview`, { record: { foo: 1 }, startAt: '2026-11-23T10:00:00Z' });
    expect(unknownField.status).toBe(400);
    expect((await e.api('POST', '/v1/automations/aut_nope/preview', { record: {}, startAt: '2026-11-23T10:00:00Z' })).status).toBe(404);
    expect((await e.api('POST', `/v1/automations/${postServiceId}/preview`, { record: {}, startAt: '2026-11-23T10:00:00Z', version: 9 })).status).toBe(404);
    // A version past PostgreSQL's integer was a 500 (Schemathesis sent 1.4e38).
    const huge = await e.api('POST', `/v1/automations/${postServiceId}/preview`, { record: {}, startAt: '2026-11-23T10:00:00Z', version: 2_147_483_648 });
    expect(huge.status).toBe(400);
    expect(huge.body.field).toBe('/body/version');
  });

  it('a walk that never ends is answered 422 with the reason (its step budget), not a truncated path', async () => {
    const loop = {
      name: 'Loop',
      trigger: { type: 'manual' },
      steps: [
        { id: 'a', type: 'wait', duration: 'PT1M' },
        { id: 'b', type: 'branch', cases: [{ when: { field: 'record.stage', op: 'exists' }, next: 'a' }] },
      ],
    };
    const { id } = await createAutomation(e, loop, { activate: false });
    const res = await e.api('POST', `/v1/automations/${id}/preview`, { record: { stage: 'new' }, startAt: '2026-11-23T10:00:00Z' });
    expect(res.status).toBe(422);
    expect(res.body.status).toBe(422);
    // Whichever budget runs out first on this machine: 1,000 steps, or 250 ms of work.
    expect(res.body.detail).toMatch(/^the walk (ran 1000 steps without ending \(a loop\?\)|took more than 250 ms after \d+ steps): the preview stops there$/);
  });

  it("eventCount conditions count the stored record's events and the simulated ones, each where it falls", async () => {
    const { id } = await createAutomation(
      e,
      {
        name: 'Regulars get a thank-you',
        trigger: { type: 'manual' },
        steps: [
          { id: 'w', type: 'wait', duration: 'PT2H' },
          {
            id: 'check',
            type: 'branch',
            cases: [{ when: { eventCount: { event: 'booking.completed', within: 'P365D' }, op: 'gte', value: 2 }, next: 'regular' }],
            otherwise: 'first',
          },
          { id: 'first', type: 'email', to: 'record', template: 'tpl_count_first', next: 'end' },
          { id: 'regular', type: 'email', to: 'record', template: 'tpl_count_regular' },
        ],
      },
      { templates: [{ id: 'tpl_count_first' }, { id: 'tpl_count_regular' }], activate: false },
    );
    const start = Date.now() + 86_400_000;
    const startAt = new Date(start).toISOString();
    const res = await e.api('POST', '/v1/events', {
      id: 'prev-bk-1',
      type: 'booking.completed',
      recordId: 'regular-1',
      occurredAt: new Date(Date.now() - 86_400_000).toISOString(),
      properties: {},
    });
    expect(res.status).toBe(202);
    const path = async (body: Record<string, unknown>) => {
      const r = await e.api('POST', `/v1/automations/${id}/preview`, { startAt, ...body });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return (r.body.steps as Array<{ stepId: string }>).map((s) => s.stepId);
    };
    // One stored booking: not yet a regular; with one simulated during the wait: two.
    expect(await path({ record: { externalId: 'regular-1' } })).toEqual(['w', 'check', 'first']);
    const simulated = [{ type: 'booking.completed', at: new Date(start + 3_600_000).toISOString() }];
    expect(await path({ record: { externalId: 'regular-1' }, events: simulated })).toEqual(['w', 'check', 'regular']);
    // Another record (no stored bookings) with the same simulated booking: one.
    expect(await path({ record: { externalId: 'someone-else' }, events: simulated })).toEqual(['w', 'check', 'first']);
  });
});
