/**
 * `eventCount` inside a running enrollment counts the record's events in the events table (the
 * countEvents activity), not only those the workflow was signalled: a booking stored before the
 * record entered counts in a branch, a `when` and a goal; a window leaves older ones out; a stored
 * event that is also signalled counts once. The preview, handed the record's stored events, takes
 * the same path. Both enrollments below took the "first booking" path before (count 0).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createDb, type Db } from '#db/connection';
import { newId } from '#db/ids';
import { createActivities } from '#activities/index';
import type { AutomationDefinition } from '#domain/definition';
import { simulateEnrollment } from '#domain/preview';
import { eventSignal } from '#workflows/signals';
import { testDatabaseUrl } from '../helpers/env';
import { input, iso, newWorker, nextAnchor, record, Recorder, skipTo, startEnv, startEnrollment, taskQueue, templatesFor } from './harness';

let env: TestWorkflowEnvironment;
let db: Db;
beforeAll(async () => {
  env = await startEnv();
  db = createDb(testDatabaseUrl());
});
afterAll(async () => {
  await env?.teardown();
  await db?.destroy();
});

const booked = { eventCount: { event: 'booking.completed', within: 'P365D' }, op: 'gte', value: 1 } as const;
const def: AutomationDefinition = {
  name: 'Welcome back',
  trigger: { type: 'manual' },
  exitWhen: [{ goal: { when: { eventCount: { event: 'booking.completed', within: 'P365D' }, op: 'gte', value: 3 } } }],
  steps: [
    { id: 'check', type: 'branch', cases: [{ when: booked, next: 'regular' }], otherwise: 'first' },
    { id: 'first', type: 'email', template: 'tpl_first', next: 'end' },
    { id: 'regular', type: 'email', template: 'tpl_regular' },
    { id: 'later', type: 'email', template: 'tpl_second', delay: 'P2D', when: { ...booked, value: 2 } },
    { id: 'bye', type: 'email', template: 'tpl_bye', delay: 'P1D' },
  ],
};

describe('eventCount in a running enrollment', () => {
  it('counts stored bookings in a branch and a when, within the window, a signalled stored one once, and reaches a goal', async () => {
    const rec = new Recorder();
    const q = taskQueue('counts');
    const w = await newWorker(env, rec, q);
    const t0 = await nextAnchor(env, 2, '09:00', 'UTC');
    await skipTo(env, t0);
    const old = { id: 'bk_old', type: 'booking.completed', at: t0.minus({ days: 400 }).toMillis() };
    const recent = { id: 'bk_recent', type: 'booking.completed', at: t0.minus({ days: 30 }).toMillis() };
    const unknownRecord = input(def, t0.toJSDate(), { record: record({ externalId: 'rec_none' }) });
    const regular = input(def, t0.toJSDate(), { record: record({ externalId: 'rec_regular' }) });
    // rec_none's only booking is outside the window (400 days ago is not "in the last year").
    rec.storedEvents = { rec_none: [old], rec_regular: [old, recent] };
    await w.runUntil(async () => {
      const a = await startEnrollment(env, q, unknownRecord);
      const b = await startEnrollment(env, q, regular);
      await skipTo(env, t0.plus({ hours: 1 }));
      // The stored booking arrives again as a signal (the router's delivery): it still counts once,
      // so `later` (2 bookings in the year) is skipped on day 2; two new bookings then make 3: the goal.
      await b.handle.signal(eventSignal, { id: 'bk_recent', type: 'booking.completed', occurredAt: iso(t0.minus({ days: 30 })), properties: {} });
      await skipTo(env, t0.plus({ days: 2, hours: 1 }));
      await b.handle.signal(eventSignal, { id: 'bk_new', type: 'booking.completed', occurredAt: iso(t0.plus({ days: 2, hours: 1 })), properties: {} });
      await b.handle.signal(eventSignal, { id: 'bk_newer', type: 'booking.completed', occurredAt: iso(t0.plus({ days: 2, hours: 2 })), properties: {} });
      expect((await a.handle.result()).status).toBe('completed');
      expect(await b.handle.result()).toMatchObject({ status: 'exited', exitReason: 'goal', converted: true });
    });
    const path = (enrollmentId: string) =>
      rec.progress.filter((p) => p.enrollmentId === enrollmentId && p.step).map((p) => `${p.step!.stepId}:${p.step!.status}@${p.step!.dueAt}`);
    expect(path(unknownRecord.enrollmentId)).toEqual([`check:done@${iso(t0)}`, `first:done@${iso(t0)}`]);
    expect(path(regular.enrollmentId)).toEqual([`check:done@${iso(t0)}`, `regular:done@${iso(t0)}`, `later:skipped@${iso(t0.plus({ days: 2 }))}`]);
    // The counts came through the activity, which was told the signalled stored booking's id.
    const asked = rec.counts.filter((c) => c.recordId === 'rec_regular');
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.some((c) => c.signalled.some((s) => s.id === 'bk_recent'))).toBe(true);

    // The preview with the record's stored events takes the same branch.
    const preview = simulateEnrollment({
      definition: def,
      templates: templatesFor(def),
      record: record({ externalId: 'rec_regular' }),
      startAt: t0.toJSDate(),
      storedEvents: [old, recent],
      workspaceTimezone: 'UTC',
    });
    expect(preview.steps.map((s) => `${s.stepId}:${s.status}`)).toEqual(['check:done', 'regular:done', 'later:skipped', 'bye:done']);
    expect(preview.outcome).toBe('completed');
    const none = simulateEnrollment({
      definition: def,
      templates: templatesFor(def),
      record: record(),
      startAt: t0.toJSDate(),
      storedEvents: [old],
      workspaceTimezone: 'UTC',
    });
    expect(none.steps.map((s) => s.stepId)).toEqual(['check', 'first']);
  });

  it('the countEvents activity counts the events table within the window, plus signalled events the table lacks, each once', async () => {
    const ws = newId('ws');
    await db
      .insertInto('workspaces')
      .values({ id: ws, name: `counts ${ws}` })
      .execute();
    const at = new Date('2026-06-15T12:00:00Z');
    const stored = [
      { id: 'e_old', occurred_at: new Date('2025-01-01T00:00:00Z') },
      { id: 'e_mid', occurred_at: new Date('2026-05-01T00:00:00Z') },
      { id: 'e_new', occurred_at: new Date('2026-06-14T00:00:00Z') },
    ];
    await db
      .insertInto('events')
      .values(
        stored.map((e) => ({
          workspace_id: ws,
          id: e.id,
          type: 'booking.completed',
          record_id: 'r1',
          occurred_at: e.occurred_at,
          properties: JSON.stringify({}),
        })),
      )
      .execute();
    await db
      .insertInto('events')
      .values({ workspace_id: ws, id: 'e_other', type: 'booking.completed', record_id: 'r2', occurred_at: at, properties: JSON.stringify({}) })
      .execute();
    const { countEvents } = createActivities({ db });
    const r = await countEvents({
      workspaceId: ws,
      recordId: 'r1',
      at: at.toISOString(),
      leaves: [{ event: 'booking.completed' }, { event: 'booking.completed', within: 'P30D' }, { event: 'rating.received' }],
      signalled: [
        { id: 'e_new', type: 'booking.completed', at: '2026-06-14T00:00:00.000Z' }, // stored: once
        { id: 'e_signal_only', type: 'booking.completed', at: '2026-06-15T11:00:00.000Z' },
      ],
    });
    expect(r.counts).toEqual([4, 2, 0]);
    expect(new Set(r.known)).toEqual(new Set(['e_old', 'e_mid', 'e_new', 'e_signal_only']));
  });
});
