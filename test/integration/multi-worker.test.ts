/**
 * Two worker processes on one task queue, as the production shape runs them (real dev server and
 * PostgreSQL): they share the enrollments (each takes workflow tasks); the reconciler, which
 * every worker process runs, ends each row of a workflow terminated from outside once, in one of
 * the two processes; and the workspace's sweep schedule, whose runs either process takes, enrolls
 * each record once when its date comes. (Send rate limits across two workers:
 * delivery-limits.test.ts.)
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sweepScheduleId } from '#engine/sweep-schedules';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

let e: EngineTest;
let workers: ChildProcess[];
/** Each worker's stdout (JSON log lines). */
const logs = ['', ''];
vi.setConfig({ testTimeout: 180_000 });

beforeAll(async () => {
  e = await startEngineTest({ worker: false, env: { RECONCILE_INTERVAL_MS: '300', SWEEP_INTERVAL: 'PT10S' } });
  workers = await Promise.all([e.spawnWorker(), e.spawnWorker()]);
  workers.forEach((w, i) => w.stdout!.on('data', (d) => (logs[i] += String(d))));
});
afterAll(async () => {
  await e?.temporal.schedule
    .getHandle(sweepScheduleId(e.t.workspaceId))
    .delete()
    .catch(() => undefined);
  await e?.close();
});

/** The pids (identity `<pid>@<host>`) of the processes that took a task of the workflow run. */
async function processesOf(workflowId: string, runId?: string): Promise<string[]> {
  const history = await e.temporal.workflow.getHandle(workflowId, runId).fetchHistory();
  return (history.events ?? []).flatMap((ev) => {
    const identity = ev.workflowTaskStartedEventAttributes?.identity ?? ev.activityTaskStartedEventAttributes?.identity;
    return identity ? [identity.split('@')[0]!] : [];
  });
}

const N = 16;

describe('two worker processes', () => {
  it('share the enrollments; a terminated workflow is repaired once, by one process', async () => {
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

    // Which process ran each workflow's tasks.
    const ran = new Set((await Promise.all(enrolled.map((x) => processesOf(x.workflowId)))).flat());
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

  it('take the runs of the sweep schedule between them: each record is enrolled once when its date comes', async () => {
    // "7 days before renewal", each renewal 7 days and 5, 15, 25 or 35 s from now: due over four
    // sweeps (every 10 s); a fifth renews in 30 days.
    const renewal = (ms: number) => new Date(Date.now() + 7 * 86_400_000 + ms).toISOString();
    const due = [5, 15, 25, 35].map((s, i) => ({ id: `sweep-mw-${i}`, renewsAt: renewal(s * 1000) }));
    for (const r of due) await putRecord(e, r.id, { timezone: 'UTC', attributes: { renews_at: r.renewsAt } });
    await putRecord(e, 'sweep-mw-later', { timezone: 'UTC', attributes: { renews_at: renewal(23 * 86_400_000) } });
    const { id } = await createAutomation(
      e,
      {
        name: 'Renewal reminder, two workers',
        trigger: { type: 'date', field: 'record.attributes.renews_at', offset: '-P7D' },
        steps: [{ id: 'remind', type: 'email', to: 'record', template: 'tpl_mw_renewal' }],
      },
      { templates: [{ id: 'tpl_mw_renewal' }] },
    );
    const schedule = e.temporal.schedule.getHandle(sweepScheduleId(e.t.workspaceId));

    const settled = (items: Array<{ status: string }>) => items.every((m) => !['queued', 'sending'].includes(m.status));
    const messages = await waitFor(
      'a reminder for each record due',
      async () => {
        const items = (await e.api('GET', `/v1/messages?automationId=${id}`)).body.items as Array<{ recordId: string; status: string }>;
        return items.length >= due.length && settled(items) && items;
      },
      150_000,
      500,
    );
    // Two more sweeps find every enrollment there: still one each.
    const taken = (await schedule.describe()).info.numActionsTaken;
    await waitFor('two more sweeps', async () => (await schedule.describe()).info.numActionsTaken >= taken + 2 || undefined, 60_000, 500);

    const enrollments = (await e.api('GET', `/v1/automations/${id}/enrollments`)).body.items as Array<{ recordId: string }>;
    expect(enrollments.map((x) => x.recordId).sort()).toEqual(due.map((r) => r.id));
    const after = (await e.api('GET', `/v1/messages?automationId=${id}`)).body.items as Array<{ recordId: string; status: string }>;
    expect(after.map((m) => [m.recordId, m.status]).sort()).toEqual(due.map((r) => [r.id, 'sandboxed']));
    expect(after).toHaveLength(messages.length);

    // The sweeps' tasks went to both processes.
    const runs = (await schedule.describe()).info.recentActions.map((a) => a.action.workflow);
    const ran = new Set((await Promise.all(runs.map((w) => processesOf(w.workflowId, w.firstExecutionRunId)))).flat());
    expect([...ran].sort()).toEqual(workers.map((w) => String(w.pid)).sort());
  });
});
