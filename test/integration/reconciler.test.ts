/**
 * The reconciler ends the enrollments rows of workflows that Temporal closed without the workflow
 * writing them (a terminate from the Web UI or the CLI runs no workflow code). Real dev server
 * and PostgreSQL; the worker runs a pass every 500 ms.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { tryJobLock } from '#db/locks';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

let e: EngineTest;
vi.setConfig({ testTimeout: 120_000 });

beforeAll(async () => {
  e = await startEngineTest({ env: { RECONCILE_INTERVAL_MS: '500' } });
});
afterAll(async () => {
  await e?.close();
});

describe('reconciler', () => {
  it('a terminate from the Temporal client marks the row exited (terminated), and the record may enter again', async () => {
    const a = await createAutomation(
      e,
      {
        name: 'Long wait',
        trigger: { type: 'manual' },
        steps: [
          { id: 'later', type: 'wait', duration: 'P30D' },
          { id: 'hi', type: 'email', to: 'record', template: 'tpl_rec_hi' },
        ],
      },
      { templates: [{ id: 'tpl_rec_hi' }] },
    );
    await putRecord(e, 'rec-1');
    const enrolled = await e.api('POST', `/v1/automations/${a.id}/enrollments`, { recordId: 'rec-1' });
    expect(enrolled.status, JSON.stringify(enrolled.body)).toBe(201);
    await waitFor('the wait', async () => (await e.api('GET', `/v1/enrollments/${enrolled.body.id}`)).body.currentStep === 'later');

    await e.temporal.workflow.getHandle(enrolled.body.workflowId).terminate('stuck lead, removed by hand');

    const ended = await waitFor(
      'the row to be repaired',
      async () => {
        const r = await e.api('GET', `/v1/enrollments/${enrolled.body.id}`);
        return r.body.status !== 'active' && r.body;
      },
      30_000,
    );
    expect(ended).toMatchObject({ status: 'exited', exitReason: 'terminated', currentStep: null });
    expect(ended.endedAt).not.toBeNull();
    // Re-entry (after_exit) no longer refuses the record.
    const again = await e.api('POST', `/v1/automations/${a.id}/enrollments`, { recordId: 'rec-1' });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body.seq).toBe(2);
  });

  it('one pass at a time: while another session holds the pass, nothing is repaired; after, it is', async () => {
    const a = await createAutomation(e, { name: 'Long wait 2', trigger: { type: 'manual' }, steps: [{ id: 'later', type: 'wait', duration: 'P30D' }] });
    await putRecord(e, 'rec-2');
    const enrolled = await e.api('POST', `/v1/automations/${a.id}/enrollments`, { recordId: 'rec-2' });
    expect(enrolled.status).toBe(201);
    await waitFor('the wait', async () => (await e.api('GET', `/v1/enrollments/${enrolled.body.id}`)).body.currentStep === 'later');
    const status = async () => (await e.api('GET', `/v1/enrollments/${enrolled.body.id}`)).body.status;

    await e.t.db.transaction().execute(async (trx) => {
      // As another worker's pass would, once this worker's own pass (every 500 ms) lets go.
      await waitFor('the reconciler pass lock', () => tryJobLock(trx, 'followup.reconciler'), 30_000, 50);
      await e.temporal.workflow.getHandle(enrolled.body.workflowId).terminate('removed by hand');
      await new Promise((r) => setTimeout(r, 2_000)); // four periodic passes come and go
      expect(await e.engine!.reconciler!.runOnce()).toBe(0);
      expect(await status()).toBe('active');
    });
    await waitFor('the row to be repaired', async () => (await status()) === 'exited', 30_000);
  });
});
