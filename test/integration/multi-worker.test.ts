/**
 * Two worker processes on one task queue, as the production shape runs them (real dev server and
 * PostgreSQL): they share the enrollments (each takes workflow tasks), and the reconciler, which
 * every worker process runs, ends each row of a workflow terminated from outside once, in one of
 * the two processes.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

let e: EngineTest;
vi.setConfig({ testTimeout: 180_000 });

beforeAll(async () => {
  e = await startEngineTest({ worker: false, env: { RECONCILE_INTERVAL_MS: '300' } });
});
afterAll(async () => {
  await e?.close();
});

const N = 16;

describe('two worker processes', () => {
  it('share the enrollments; a terminated workflow is repaired once, by one process', async () => {
    const workers = await Promise.all([e.spawnWorker(), e.spawnWorker()]);
    const logs = workers.map(() => '');
    workers.forEach((w, i) => w.stdout!.on('data', (d) => (logs[i] += String(d))));

    const a = await createAutomation(e, { name: 'Two workers', trigger: { type: 'manual' }, steps: [{ id: 'later', type: 'wait', duration: 'P30D' }] });
    const enrolled: Array<{ id: string; workflowId: string }> = [];
    for (let i = 0; i < N; i++) {
      await putRecord(e, `mw-${i}`);
      const res = await e.api('POST', `/v1/automations/${a.id}/enrollments`, { recordId: `mw-${i}` });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      enrolled.push(res.body);
    }
    const rows = () => Promise.all(enrolled.map(async (x) => (await e.api('GET', `/v1/enrollments/${x.id}`)).body));
    await waitFor('every enrollment to wait', async () => (await rows()).every((r) => r.currentStep === 'later'), 60_000);

    // Which process ran each workflow's tasks: the identity is `<pid>@<host>`.
    const ran = new Set<string>();
    for (const x of enrolled) {
      const history = await e.temporal.workflow.getHandle(x.workflowId).fetchHistory();
      for (const ev of history.events ?? []) {
        const identity = ev.workflowTaskStartedEventAttributes?.identity;
        if (identity) ran.add(identity.split('@')[0]!);
      }
    }
    expect([...ran].sort()).toEqual(workers.map((w) => String(w.pid)).sort());

    for (const x of enrolled) await e.temporal.workflow.getHandle(x.workflowId).terminate('removed by hand');
    await waitFor('every row to be repaired', async () => (await rows()).every((r) => r.status === 'exited'), 60_000);
    for (const r of await rows()) expect(r).toMatchObject({ status: 'exited', exitReason: 'terminated', currentStep: null });
    await new Promise((r) => setTimeout(r, 2_000)); // more passes in both processes

    const repairs = logs
      .flatMap((l) => l.split('\n'))
      .filter((l) => l.includes('reconciler: the workflow closed'))
      .map((l) => (JSON.parse(l) as { enrollmentId: string }).enrollmentId);
    expect(repairs.sort()).toEqual(enrolled.map((x) => x.id).sort());
  });
});
