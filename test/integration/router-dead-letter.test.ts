/**
 * Poison rows: an outbox row that keeps failing is parked in outbox_dead_letters after
 * ROUTER_MAX_ATTEMPTS (2 here) with its last error, counted in the worker's metrics, listed and
 * retried through the admin API, and no longer holds back its record's next row.
 *
 * The fault is real PostgreSQL behaviour: a trigger refuses enrollments into one automation while
 * `router_test_dead_faults` names it.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TEST_ADMIN_TOKEN } from '../helpers/app';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

let e: EngineTest;
vi.setConfig({ testTimeout: 180_000 });

beforeAll(async () => {
  e = await startEngineTest({ env: { ROUTER_MAX_ATTEMPTS: '2' } });
  await sql`create table router_test_dead_faults (automation_id text primary key)`.execute(e.t.db);
  await sql`
    create function router_test_dead_fault() returns trigger language plpgsql as $$
    begin
      if exists (select 1 from router_test_dead_faults f where f.automation_id = new.automation_id) then
        raise exception 'injected fault: enrollments into % refused', new.automation_id;
      end if;
      return new;
    end $$`.execute(e.t.db);
  await sql`create trigger router_test_dead_fault before insert on enrollments for each row execute function router_test_dead_fault()`.execute(e.t.db);
});
afterAll(async () => {
  await sql`drop trigger if exists router_test_dead_fault on enrollments`.execute(e.t.db).catch(() => undefined);
  await sql`drop function if exists router_test_dead_fault()`.execute(e.t.db).catch(() => undefined);
  await sql`drop table if exists router_test_dead_faults`.execute(e.t.db).catch(() => undefined);
  await e?.close();
});

async function admin(method: string, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${e.t.baseUrl}${path}`, { method, headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const enrollmentIn = async (automationId: string, recordId: string) =>
  (await e.api('GET', `/v1/automations/${automationId}/enrollments`)).body.items.find((x: any) => x.recordId === recordId);

describe('dead letters', () => {
  it("a row that always fails is parked with its last error, counted, listed, and its record's next row runs; a retry routes it", async () => {
    const poisoned = await createAutomation(e, {
      name: 'Poisoned',
      trigger: { type: 'event', event: 'lead.created' },
      steps: [{ id: 'w', type: 'wait', duration: 'P1D' }],
    });
    const healthy = await createAutomation(e, {
      name: 'Healthy',
      trigger: { type: 'event', event: 'lead.scored' },
      steps: [{ id: 'w', type: 'wait', duration: 'P1D' }],
    });
    await putRecord(e, 'dl-1');
    await sql`insert into router_test_dead_faults values (${poisoned.id})`.execute(e.t.db);

    await e.api('POST', '/v1/events', { id: 'evt-dl-created', type: 'lead.created', recordId: 'dl-1' });
    await e.api('POST', '/v1/events', { id: 'evt-dl-scored', type: 'lead.scored', recordId: 'dl-1' });

    // The record's next row runs once the poisoned one is parked.
    await waitFor('the next row of the record', () => enrollmentIn(healthy.id, 'dl-1'), 60_000);
    const parked = await e.t.db.selectFrom('outbox_dead_letters').selectAll().where('workspace_id', '=', e.t.workspaceId).execute();
    expect(parked).toHaveLength(1);
    expect(parked[0]).toMatchObject({ kind: 'event', record_id: 'dl-1', attempts: 2 });
    expect(parked[0]!.last_error).toContain(`injected fault: enrollments into ${poisoned.id} refused`);
    expect((parked[0]!.payload as any).event.id).toBe('evt-dl-created');
    expect(await e.t.db.selectFrom('outbox').select('id').where('workspace_id', '=', e.t.workspaceId).execute()).toEqual([]);

    const metrics = await e.engine!.metrics.registry.metrics();
    expect(metrics).toMatch(/^followup_router_dead_lettered_total 1$/m);
    expect(metrics).toMatch(/^followup_outbox_dead_letters [1-9]\d*$/m);

    const listed = await admin('GET', '/admin/dead-letters');
    expect(listed.status).toBe(200);
    const item = listed.body.items.find((x: any) => x.workspaceId === e.t.workspaceId);
    expect(item).toMatchObject({ id: String(parked[0]!.id), kind: 'event', recordId: 'dl-1', attempts: 2 });
    expect(item.lastError).toContain('injected fault');
    expect((await fetch(`${e.t.baseUrl}/admin/dead-letters`)).status).toBe(401);
    expect((await admin('POST', '/admin/dead-letters/999999999/retry')).status).toBe(404);

    await sql`delete from router_test_dead_faults`.execute(e.t.db);
    const retried = await admin('POST', `/admin/dead-letters/${item.id}/retry`);
    expect(retried.status, JSON.stringify(retried.body)).toBe(202);
    const enrolled = await waitFor('the retried row to enroll the record', () => enrollmentIn(poisoned.id, 'dl-1'), 60_000);
    expect(enrolled).toMatchObject({ triggerEventId: 'evt-dl-created', status: 'active' });
    expect(await e.t.db.selectFrom('outbox_dead_letters').select('id').where('workspace_id', '=', e.t.workspaceId).execute()).toEqual([]);
  });
});
