/**
 * Bounded history (issue 8), the noise an enrollment does receive: 20,000 events of the type its
 * 3-month `wait_for` waits for, whose `where` does not match, arrive during the wait. The
 * enrollment stays running, continues as new so that no run's history passes the stated bound
 * (HISTORY_LIMIT, plus the workflow task that continues as new), loses none of them (every signal
 * is in a run's history), and still times out at its original due time: the same instant as a
 * twin enrollment that received nothing. Histories are read from Temporal. Noise of a type the
 * enrollment cannot use never reaches it: test/integration/router-signals.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import proto from '@temporalio/proto';
import type { AutomationDefinition } from '#domain/definition';
import { HISTORY_LIMIT } from '#workflows/enrollment';
import { eventSignal } from '#workflows/signals';
import type { History } from './histories';
import { input, iso, newWorker, nextAnchor, Recorder, skipTo, startEnrollment, startEnv, taskQueue } from './harness';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const NOISE = 20_000;
const BURST = 400;
/** Signals in flight at once, as a router's batches deliver them. */
const IN_FLIGHT = 8;
/** No run's history may pass this: the stated bound plus the workflow task that continues as new. */
const RUN_BOUND = HISTORY_LIMIT.events + 100;

/** Until the workflow has handled every signal sent: no workflow task pending, the same run and history length on two looks 200 ms apart. */
async function settled(handle: WorkflowHandle): Promise<void> {
  const looks: string[] = [];
  for (;;) {
    const d = await handle.describe();
    looks.push(d.raw.pendingWorkflowTask ? `${looks.length}` : `${d.runId}:${d.historyLength}`);
    if (looks.length >= 2 && looks.at(-1) === looks.at(-2)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

const quote: AutomationDefinition = {
  name: 'Quote within three months',
  trigger: { type: 'manual' },
  steps: [
    { id: 'ask', type: 'email', template: 'tpl_ask' },
    {
      id: 'quote',
      type: 'wait_for',
      event: 'form.submitted',
      where: { field: 'event.form', op: 'eq', value: 'quote' },
      timeout: 'P3M',
      onEvent: 'thanks',
      onTimeout: 'nudge',
    },
    { id: 'nudge', type: 'email', template: 'tpl_nudge', next: 'end' },
    { id: 'thanks', type: 'email', template: 'tpl_thanks' },
  ],
};

const { EventType } = proto.temporal.api.enums.v1;
const signalsIn = (h: History) => (h.events ?? []).filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED).length;

describe('bounded history', () => {
  it('20,000 noise events during a 3-month wait leave the enrollment running with a bounded history, and it times out at its original due time', async () => {
    const noisy = new Recorder();
    const quiet = new Recorder();
    const qNoisy = taskQueue('noisy');
    const qQuiet = taskQueue('quiet');
    const wNoisy = await newWorker(env, noisy, qNoisy);
    const wQuiet = await newWorker(env, quiet, qQuiet);
    const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
    await skipTo(env, t0);

    // Time stands still on the test server until a result is awaited: both wait while the noise arrives.
    await wQuiet.runUntil(() =>
      wNoisy.runUntil(async () => {
        const twin = await startEnrollment(env, qQuiet, input(quote, t0.toJSDate()));
        const { handle } = await startEnrollment(env, qNoisy, input(quote, t0.toJSDate()));
        const latest = env.client.workflow.getHandle(handle.workflowId);
        // Noise arrives in bursts with quiet moments between them (over three months it hardly ever
        // arrives faster). A run continues as new in the workflow task after its history passes
        // the bound; a signal arriving during that task makes the server refuse it and the worker
        // replays the whole run before trying again (temporalio/temporal#1289), so the bursts shrink
        // as a run nears its bound, as noise spread over months would leave room for it.
        const began = performance.now();
        let sent = 0;
        while (sent < NOISE) {
          const { historyLength } = await latest.describe();
          const chunk = Math.min(NOISE - sent, BURST, Math.max(1, Math.floor((HISTORY_LIMIT.events - historyLength) / 4)));
          let next = sent;
          sent += chunk;
          await Promise.all(
            Array.from({ length: Math.min(IN_FLIGHT, chunk) }, async () => {
              for (let i = next++; i < sent; i = next++) {
                await latest.signal(eventSignal, { id: `noise_${i}`, type: 'form.submitted', occurredAt: iso(t0), properties: { form: 'newsletter', n: i } });
              }
            }),
          );
          await settled(latest);
        }
        process.stderr.write(`[bounded-history] noise sent and handled in ${Math.round(performance.now() - began)} ms\n`);
        // Every run of the chain, first one first, as Temporal stores them.
        const runs: History[] = [];
        for (let runId: string | undefined = (await latest.describe()).runId; runId;) {
          const h: History = await env.client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
          runs.unshift(h);
          runId = h.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
        }
        const lengths = runs.map((h) => h.events?.length ?? 0);
        process.stderr.write(
          `[bounded-history] ${NOISE} signals, ${IN_FLIGHT} in flight: ${runs.length} runs of ${lengths.join(', ')} events; ` +
            `${(lengths.reduce((a, b) => a + b, 0) / NOISE).toFixed(3)} events per signal\n`,
        );
        expect(runs.reduce((n, h) => n + signalsIn(h), 0)).toBe(NOISE);
        expect(runs.length).toBeGreaterThanOrEqual(Math.ceil(NOISE / RUN_BOUND));
        for (const h of runs.slice(0, -1)) expect(h.events?.at(-1)?.eventType).toBe(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW);
        expect(Math.max(...lengths)).toBeLessThanOrEqual(RUN_BOUND);
        expect((await latest.describe()).status.name).toBe('RUNNING');
        expect(noisy.sendLog()).toEqual([`ask@${iso(t0)}`]);

        const done = { status: 'completed', exitReason: null, converted: false };
        expect(await Promise.all([latest.result(), twin.handle.result()])).toEqual([done, done]);
      }),
    );
    // The twin that received nothing timed out at the wait's due time, three months on; the noisy one at the same instant.
    const [, nudge] = quiet.sendLog();
    expect(quiet.sendLog()).toEqual([`ask@${iso(t0)}`, nudge]);
    expect(Date.parse(nudge!.split('@')[1]!) - t0.toMillis()).toBeGreaterThanOrEqual(89 * 86_400_000);
    expect(Date.parse(nudge!.split('@')[1]!) - t0.toMillis()).toBeLessThanOrEqual(92 * 86_400_000);
    expect(noisy.sendLog()).toEqual(quiet.sendLog());
    expect(noisy.steps().find((s) => s.stepId === 'nudge')).toEqual(quiet.steps().find((s) => s.stepId === 'nudge'));
  }, 600_000);
});
