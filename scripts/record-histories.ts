/**
 * Records workflow histories for the replay test (test/workflow/replay.test.ts) from real runs:
 * each scenario runs the current enrollment workflow on the time-skipping test server (with the
 * typed in-memory activities of the workflow tests), and its event history is exported to
 * test/histories/<scenario>.json (every run of a continued-as-new chain: <scenario>.runN.json).
 *
 *   npx tsx scripts/record-histories.ts            # all scenarios
 *   npx tsx scripts/record-histories.ts seller     # the scenarios whose name contains "seller"
 *   npx tsx scripts/record-histories.ts --production
 *
 * --production records the production-shaped ones (test/histories/prod-*.json) instead: the real
 * worker with the real activities on a Temporal dev server and PostgreSQL, driven through the API
 * (test/integration/production-histories.test.ts, run here with RECORD_HISTORIES=1).
 *
 * Record new histories when the workflow gains a behaviour; never re-record an existing file to
 * make the replay test pass: a replay failure means running enrollments would break (use patched()).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { saveHistory, type History } from '../test/workflow/histories';
import type { AutomationDefinition } from '#domain/definition';
import { eventSignal, exitSignal, pauseSignal, recordChangedSignal, resumeSignal } from '#workflows/signals';
import type { EnrollmentOptions } from '#workflows/enrollment';
import { input, iso, newWorker, nextAnchor, quietRuntime, record, Recorder, skipTo, startEnrollment, taskQueue, type Running } from '../test/workflow/harness';
import { leadNurture, postService, renewal } from '../test/workflow/definitions';
import { ensureTestServer } from './provision/test-server';
import { loadProvisionSettings, REPO_ROOT } from './provision/settings';
import { SEARCH_ATTRIBUTES } from './provision/temporal';

const OUT = join(REPO_ROOT, 'test', 'histories');
type Env = TestWorkflowEnvironment;
type DateTimeLike = Awaited<ReturnType<typeof nextAnchor>>;

interface Scenario {
  name: string;
  def: AutomationDefinition;
  options?: EnrollmentOptions;
  recorder?: (r: Recorder) => void;
  drive: (env: Env, run: Running, t0: DateTimeLike) => Promise<void>;
}

const sellerLead: AutomationDefinition = {
  name: 'Seller lead',
  trigger: { type: 'manual' },
  exitWhen: [{ event: 'message.replied', notify: 'owner' }],
  settings: { timing: 'after_start', quietHours: { start: '23:00', end: '07:30' } },
  steps: [
    { id: 'a1', type: 'sms', template: 'tpl_text' },
    {
      id: 'a2',
      type: 'email',
      template: 'tpl_mail',
      delay: 'P2D',
      roundDelayToDay: true,
      window: { from: '14:00', to: '15:00', timezone: 'America/New_York' },
    },
    {
      id: 'a3',
      type: 'voicemail',
      template: 'tpl_rvm',
      delay: 'P3D',
      roundDelayToDay: true,
      window: { from: '14:00', to: '15:00', timezone: 'America/New_York' },
    },
    { id: 'a4', type: 'task', template: 'tpl_call', delay: 'P3D' },
  ],
};

const stageScenario: AutomationDefinition = {
  name: 'Stage',
  trigger: { type: 'stage_entered', stage: 'unassigned' },
  settings: { timing: 'after_start' },
  steps: [
    { id: 'mail5m', type: 'email', template: 'tpl_1', delay: 'PT5M', skipIfChanged: ['stage'] },
    { id: 'mail2h', type: 'email', template: 'tpl_2', delay: 'PT2H', skipIfChanged: ['stage'] },
    { id: 'sms6h', type: 'sms', template: 'tpl_3', delay: 'PT6H', skipIfChanged: ['stage'] },
    { id: 'staff', type: 'email_user', to: 'owner', template: 'tpl_4' },
    { id: 'stop', type: 'exit', reason: 'done' },
  ],
};

const daily: AutomationDefinition = {
  name: 'Daily',
  trigger: { type: 'manual' },
  steps: [
    { id: 'd1', type: 'email', template: 'tpl_1' },
    { id: 'd2', type: 'email', template: 'tpl_2', delay: 'P1D' },
    { id: 'd3', type: 'email', template: 'tpl_3', delay: 'P1D' },
  ],
};

const quarterly: AutomationDefinition = {
  name: 'Quarterly',
  trigger: { type: 'manual' },
  exitWhen: [{ event: 'booking.completed' }],
  steps: [
    { id: 'checkin', type: 'email', template: 'tpl_checkin' },
    { id: 'quarter', type: 'wait', duration: 'P3M', next: 'checkin' },
  ],
};

const whereScenario: AutomationDefinition = {
  name: 'Where',
  trigger: { type: 'manual' },
  exitWhen: [{ goal: { when: { field: 'record.attributes.plan', op: 'eq', value: 'paid' } } }],
  steps: [
    { id: 'wf', type: 'wait_for', event: 'form.submitted', where: { field: 'event.form', op: 'eq', value: 'quote' }, timeout: 'P2D', onTimeout: 'late' },
    { id: 'b', type: 'branch', cases: [{ when: { field: 'event.budget', op: 'gte', value: 1000 }, next: 'big' }], otherwise: 'small' },
    { id: 'big', type: 'task', template: 'tpl_big', priority: 'high', next: 'end' },
    { id: 'small', type: 'email', template: 'tpl_small' },
    { id: 'w', type: 'wait', duration: 'P7D' },
    { id: 'late', type: 'email', template: 'tpl_late' },
  ],
};

const event = (id: string, type: string, at: DateTimeLike, properties: Record<string, unknown> = {}) => ({ id, type, occurredAt: iso(at), properties });

const scenarios: Scenario[] = [
  { name: 'post-service-no-rating', def: postService, drive: async (_env, run) => void (await run.handle.result()) },
  {
    name: 'post-service-low-rating',
    def: postService,
    drive: async (env, run, t0) => {
      await skipTo(env, t0.plus({ hours: 3 }));
      await run.handle.signal(eventSignal, event('evt_r', 'rating.received', t0.plus({ hours: 3 }), { rating: 2 }));
      await run.handle.signal(eventSignal, event('evt_r', 'rating.received', t0.plus({ hours: 3 }), { rating: 2 }));
      await run.handle.result();
    },
  },
  {
    name: 'seller-lead-reply',
    def: sellerLead,
    drive: async (env, run, t0) => {
      await skipTo(env, t0.plus({ days: 2, hours: 6 }));
      await run.handle.signal(eventSignal, event('evt_reply', 'message.replied', t0.plus({ days: 2, hours: 6 })));
      await run.handle.result();
    },
  },
  { name: 'seller-lead-complete', def: sellerLead, drive: async (_env, run) => void (await run.handle.result()) },
  {
    name: 'stage-changed-skip',
    def: stageScenario,
    drive: async (env, run, t0) => {
      await skipTo(env, t0.plus({ hours: 1 }));
      await run.handle.signal(recordChangedSignal, { id: 'chg', changes: { stage: 'quotation' }, at: iso(t0.plus({ hours: 1 })) });
      await run.handle.result();
    },
  },
  {
    name: 'pause-resume-exit',
    def: daily,
    drive: async (env, run, t0) => {
      await skipTo(env, t0.plus({ hours: 12 }));
      await run.handle.signal(pauseSignal);
      await skipTo(env, t0.plus({ days: 2 }));
      await run.handle.signal(resumeSignal);
      await skipTo(env, t0.plus({ days: 2, hours: 12 }));
      await run.handle.signal(exitSignal, { reason: 'manual' });
      await run.handle.result();
    },
  },
  {
    name: 'renewal-webhook-failed',
    def: renewal,
    recorder: (r) => (r.webhookAnswers.wh_billing = { ok: false, status: 402, error: 'answered 402' }),
    drive: async (_env, run) => void (await run.handle.result()),
  },
  {
    name: 'lead-nurture-goal',
    def: leadNurture,
    drive: async (env, run, t0) => {
      await skipTo(env, t0.plus({ days: 5 }));
      await run.handle.signal(eventSignal, event('evt_b', 'booking.completed', t0.plus({ days: 5 })));
      await run.handle.result();
    },
  },
  { name: 'lead-nurture-complete', def: leadNurture, drive: async (_env, run) => void (await run.handle.result()) },
  {
    name: 'wait-for-where-goal',
    def: whereScenario,
    drive: async (env, run, t0) => {
      await run.handle.signal(eventSignal, event('f1', 'form.submitted', t0, { form: 'newsletter', budget: 5000 }));
      await skipTo(env, t0.plus({ hours: 5 }));
      await run.handle.signal(eventSignal, event('f2', 'form.submitted', t0.plus({ hours: 5 }), { form: 'quote', budget: 200 }));
      await skipTo(env, t0.plus({ days: 3 }));
      await run.handle.signal(recordChangedSignal, { id: 'c1', changes: { 'attributes.plan': 'paid' }, at: iso(t0.plus({ days: 3 })) });
      await run.handle.result();
    },
  },
  {
    name: 'quarterly-continue-as-new',
    def: quarterly,
    options: { stepsPerRun: 3 },
    drive: async (env, run, t0) => {
      await skipTo(env, t0.plus({ months: 10 }));
      await run.handle.signal(eventSignal, event('evt_b', 'booking.completed', t0.plus({ months: 10 })));
      await run.handle.result();
    },
  },
];

/** The production-shaped histories: their test provisions PostgreSQL and the dev servers, and writes the files. */
function recordProduction(): never {
  const run = spawnSync('npx', ['vitest', 'run', '--project', 'integration', 'test/integration/production-histories.test.ts'], {
    cwd: REPO_ROOT,
    stdio: 'inherit',
    env: { ...process.env, RECORD_HISTORIES: '1' },
  });
  process.exit(run.status ?? 1);
}

async function main(): Promise<void> {
  const filter = process.argv[2];
  if (filter === '--production') recordProduction();
  const settings = loadProvisionSettings();
  const testServer = await ensureTestServer(settings.toolsDir, (line) => process.stderr.write(`${line}\n`));
  quietRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: testServer } } });
  const types = { Keyword: 2, Int: 3 } as const;
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default',
    searchAttributes: Object.fromEntries(Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => [name, types[type as keyof typeof types]])),
  });
  mkdirSync(OUT, { recursive: true });
  try {
    for (const s of scenarios.filter((x) => !filter || x.name.includes(filter))) {
      const rec = new Recorder();
      s.recorder?.(rec);
      const q = taskQueue(s.name);
      const worker = await newWorker(env, rec, q);
      const t0 = await nextAnchor(env, 1, '10:00', 'UTC');
      await skipTo(env, t0);
      const runIds: string[] = [];
      await worker.runUntil(async () => {
        const run = await startEnrollment(
          env,
          q,
          input(s.def, t0.toJSDate(), { record: record(), enrollmentId: `enr_${s.name}`, automationId: `aut_${s.name}` }),
          s.options,
        );
        await s.drive(env, run, t0);
        // Walk the chain of runs (continue-as-new) from the first one.
        let runId: string | undefined = run.handle.firstExecutionRunId;
        while (runId) {
          runIds.push(runId);
          const history: History = await env.client.workflow.getHandle(run.handle.workflowId, runId).fetchHistory();
          const last = history.events?.[history.events.length - 1];
          runId = last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
          const file = runIds.length === 1 && !runId ? `${s.name}.json` : `${s.name}.run${runIds.length}.json`;
          saveHistory(join(OUT, file), history);
          process.stderr.write(`recorded ${file} (${history.events?.length ?? 0} events)\n`);
        }
      });
    }
  } finally {
    await env.teardown();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
