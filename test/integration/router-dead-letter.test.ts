/**
 * Poison rows: an outbox row that keeps failing is parked in outbox_dead_letters after
 * ROUTER_MAX_ATTEMPTS (2 here) with its last error, counted in the worker's metrics, listed and
 * retried through the admin API, and no longer holds back its record's next row.
 *
 * The fault is real PostgreSQL behaviour: a trigger refuses enrollments into one automation while
 * `router_test_dead_faults` names it (enrollmentFault).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { rawRequest, TEST_ADMIN_TOKEN } from '../helpers/app';
import { createAutomation, enrollmentFault, putRecord, startEngineTest, waitFor, type EnrollmentFault, type EngineTest } from './engine-support';

let e: EngineTest;
let fault: EnrollmentFault;
vi.setConfig({ testTimeout: 180_000 });

beforeAll(async () => {
  e = await startEngineTest({ env: { ROUTER_MAX_ATTEMPTS: '2' } });
  fault = await enrollmentFault(e.t.db, 'router_test_dead_faults', 'automation_id');
});
afterAll(async () => {
  await fault?.remove();
  await e?.close();
});

const admin = (method: string, path: string) => rawRequest(e.t, method, path, { key: TEST_ADMIN_TOKEN });

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
    await fault.refuse(poisoned.id);

    await e.api('POST', '/v1/events', { id: 'evt-dl-created', type: 'lead.created', recordId: 'dl-1' });
    await e.api('POST', '/v1/events', { id: 'evt-dl-scored', type: 'lead.scored', recordId: 'dl-1' });

    // The record's next row runs once the poisoned one is parked.
    await waitFor('the next row of the record', () => enrollmentIn(healthy.id, 'dl-1'), 60_000);
    const parked = await e.t.db.selectFrom('outbox_dead_letters').selectAll().where('workspace_id', '=', e.t.workspaceId).execute();
    expect(parked).toHaveLength(1);
    expect(parked[0]).toMatchObject({ kind: 'event', record_id: 'dl-1', attempts: 2 });
    expect(parked[0]!.last_error).toContain(`injected fault: enrollment with automation_id ${poisoned.id} refused`);
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

    await fault.allowAll();
    const retried = await admin('POST', `/admin/dead-letters/${item.id}/retry`);
    expect(retried.status, JSON.stringify(retried.body)).toBe(202);
    const enrolled = await waitFor('the retried row to enroll the record', () => enrollmentIn(poisoned.id, 'dl-1'), 60_000);
    expect(enrolled).toMatchObject({ triggerEventId: 'evt-dl-created', status: 'active' });
    expect(await e.t.db.selectFrom('outbox_dead_letters').select('id').where('workspace_id', '=', e.t.workspaceId).execute()).toEqual([]);
  });
});
