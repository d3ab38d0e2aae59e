/**
 * Workflow-test harness: one time-skipping environment per test file, the run's workflow bundle, a
 * typed in-memory recorder implementing the `Activities` interface (no Temporal or pg mocks) that
 * records every call, repeated ones included (a doubled call must be visible to the tests), and
 * helpers to start an enrollment at a chosen instant and move the test server's clock.
 */
import { fileURLToPath } from 'node:url';
import { DateTime } from 'luxon';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Runtime, DefaultLogger, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type {
  Activities,
  CallWebhookRequest,
  CountEventsRequest,
  CreateTaskRequest,
  NotifyOwnerRequest,
  ProgressUpdate,
  SendMessageRequest,
  UpdateRecordRequest,
  WebhookOutcome,
} from '#activities/index';
import type { AutomationDefinition } from '#domain/definition';
import type { EnrollmentInputV1, VersionedEnrollmentInput, RecordSnapshot, TemplateSnapshot, TriggerEvent } from '#domain/enrollment';
import { countLeaves, type CountedEvent } from '#domain/event-counts';
import { enrollmentWorkflowId } from '#workflows/signals';
import { enrollmentWorkflow, type EnrollmentOptions } from '#workflows/enrollment';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

let runtimeInstalled = false;
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // already installed by another helper in this process
  }
}

/** One per test file (time skipping is global to an environment): the platform's provisioned test server. */
export async function startEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  // Imported here so that scripts (record-histories) can use the rest of the harness outside vitest.
  const { createTimeSkippingEnv } = await import('../helpers/env');
  return createTimeSkippingEnv();
}

let bundlePromise: Promise<WorkflowBundleOption> | undefined;
/** Under vitest the run's bundle (test/setup/global-setup.ts); bundled here once for scripts (record-histories). */
export function workflowBundle(): Promise<WorkflowBundleOption> {
  bundlePromise ??= process.env.VITEST
    ? import('../helpers/env').then((env) => env.workflowBundle())
    : bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
  return bundlePromise;
}

// ---------------------------------------------------------------------------------------------
// The recorder: what the workflow asked the outside world to do, in order.

export interface SentRecord {
  stepId: SendMessageRequest['stepId'];
  channel: string;
  to: SendMessageRequest['to'];
  templateId: string;
  templateVersion: number | null;
  variant: string | null;
  at: string;
  key: string;
}
export interface TaskRecord {
  stepId: string | null;
  assignee: CreateTaskRequest['assignee'];
  ownerId: string | null;
  templateId: string | null;
  priority: string;
  dueAt: string | null;
  key: string;
}

export class Recorder {
  readonly sends: SentRecord[] = [];
  readonly tasks: TaskRecord[] = [];
  readonly progress: ProgressUpdate[] = [];
  readonly updates: UpdateRecordRequest[] = [];
  readonly webhooks: CallWebhookRequest[] = [];
  readonly notifications: NotifyOwnerRequest[] = [];
  /** Each record's events in the events table, as the countEvents activity would find them (besides the signalled ones). */
  storedEvents: Record<string, CountedEvent[]> = {};
  readonly counts: CountEventsRequest[] = [];
  /** Answers for webhook calls, by endpoint id (default: ok 200); 'throw': a transient failure (5xx), which Temporal retries. */
  webhookAnswers: Record<string, WebhookOutcome | 'throw'> = {};
  /** Idempotency keys already called: a repeated key is answered as a duplicate, like the real activities, and still recorded. */
  private readonly keys = new Set<string>();

  readonly activities: Activities = {
    recordProgress: async (u) => {
      this.progress.push(u);
    },
    sendMessage: async (r) => {
      const duplicate = this.keys.has(r.idempotencyKey);
      this.keys.add(r.idempotencyKey);
      this.sends.push({
        stepId: r.stepId,
        channel: r.channel,
        to: r.to,
        templateId: r.templateId,
        templateVersion: r.template?.version ?? null,
        variant: r.variant,
        at: r.dueAt,
        key: r.idempotencyKey,
      });
      return { messageId: `msg_${r.idempotencyKey}`, status: 'sandboxed', to: 'x', segments: null, error: null, duplicate };
    },
    createTask: async (r) => {
      const created = !this.keys.has(r.idempotencyKey);
      this.keys.add(r.idempotencyKey);
      this.tasks.push({
        stepId: r.stepId,
        assignee: r.assignee,
        ownerId: r.ownerId,
        templateId: r.template?.id ?? null,
        priority: r.priority,
        dueAt: r.dueAt,
        key: r.idempotencyKey,
      });
      return { taskId: `task_${r.idempotencyKey}`, assigneeId: r.assignee === 'owner' ? r.ownerId : null, title: 't', created };
    },
    updateRecord: async (r) => {
      this.updates.push(r);
      return { changes: r.set, found: true };
    },
    callWebhook: async (r) => {
      this.webhooks.push(r);
      const answer = this.webhookAnswers[r.endpointId] ?? { ok: true, status: 200, error: null };
      if (answer === 'throw') {
        const { ApplicationFailure } = await import('@temporalio/common');
        throw ApplicationFailure.retryable('endpoint down', 'WebhookTransient');
      }
      return answer;
    },
    countEvents: async (r) => {
      this.counts.push(r);
      const signalled = r.signalled.map((e) => ({ id: e.id, type: e.type, at: Date.parse(e.at) }));
      const stored = this.storedEvents[r.recordId] ?? [];
      return { counts: countLeaves(r.leaves, Date.parse(r.at), stored, signalled), known: [...stored, ...signalled].map((e) => e.id) };
    },
    notifyOwner: async (r) => {
      this.notifications.push(r);
      return { taskId: `task_${r.idempotencyKey}`, messageId: null, assigneeId: r.ownerId };
    },
  };

  /** Sends as `stepId@ISO time` for compact exact assertions. */
  sendLog(): string[] {
    return this.sends.map((s) => `${s.stepId}@${s.at}`);
  }
  steps(): Array<{ stepId: string; status: string; dueAt: string | null }> {
    return this.progress.flatMap((p) => (p.step ? [{ stepId: p.step.stepId, status: p.step.status, dueAt: p.step.dueAt }] : []));
  }
  last(): ProgressUpdate {
    return this.progress[this.progress.length - 1]!;
  }
}

// ---------------------------------------------------------------------------------------------
// Inputs and clock.

export const WORKSPACE = 'ws_test';

export function template(id: string, channel: TemplateSnapshot['channel'], version = 1): TemplateSnapshot {
  const content: Record<string, string> =
    channel === 'email'
      ? { subject: `${id} for {{ record.name }}`, text: `Hello {{ record.name }} (${id})` }
      : channel === 'task'
        ? { title: `${id}: {{ record.name }}`, body: 'Call them' }
        : { body: `Hi {{ record.name }} (${id})` };
  return { id, version, channel, content };
}

export function templatesFor(def: AutomationDefinition): Record<string, TemplateSnapshot> {
  const out: Record<string, TemplateSnapshot> = {};
  for (const s of def.steps) {
    const ids = 'variants' in s && s.variants ? s.variants.map((v) => v.template) : 'template' in s && s.template ? [s.template] : [];
    const channel = s.type === 'task' ? 'task' : s.type === 'sms' ? 'sms' : s.type === 'voicemail' ? 'voicemail' : 'email';
    for (const id of ids) out[id] = template(id, channel);
  }
  return out;
}

export function record(over: Partial<RecordSnapshot> = {}): RecordSnapshot {
  return {
    externalId: 'rec_1',
    email: 'ana@example.com',
    phone: '+40712345678',
    name: 'Ana',
    timezone: 'UTC',
    stage: 'new',
    ownerId: 'usr_owner',
    attributes: {},
    ...over,
  };
}

let counter = 0;
export function input(def: AutomationDefinition, startedAt: Date, over: Partial<EnrollmentInputV1> = {}): EnrollmentInputV1 {
  counter++;
  const rec = over.record ?? record();
  return {
    v: 1,
    enrollmentId: `enr_${Date.now().toString(36)}_${counter}`,
    workspaceId: WORKSPACE,
    workspaceTimezone: 'UTC',
    automationId: `aut_${counter}`,
    version: 1,
    definition: def,
    templates: templatesFor(def),
    record: rec,
    trigger: null,
    variant: 'A',
    startedAt: startedAt.toISOString(),
    ...over,
  };
}

export function trigger(type: string, properties: Record<string, unknown> = {}, at = new Date()): TriggerEvent {
  counter++;
  return { id: `evt_trigger_${counter}`, type, occurredAt: at.toISOString(), properties };
}

/** Moves the test server's clock to `at` (never backwards), firing every timer due on the way. */
export async function skipTo(env: TestWorkflowEnvironment, at: Date | DateTime): Promise<void> {
  const target = at instanceof Date ? at.getTime() : at.toMillis();
  const now = await env.currentTimeMs();
  if (target > now) await env.sleep(target - now);
}

/**
 * The next `weekday` (1 = Monday) at `time` in `zone` that is at least a day after the test
 * server's current time: a fixed point to anchor a scenario on.
 */
export async function nextAnchor(env: TestWorkflowEnvironment, weekday: number, time: string, zone: string): Promise<DateTime> {
  const now = DateTime.fromMillis(await env.currentTimeMs(), { zone });
  const [h, m] = time.split(':').map(Number);
  let d = now.plus({ days: 1 }).set({ hour: h!, minute: m!, second: 0, millisecond: 0 });
  while (d.weekday !== weekday) d = d.plus({ days: 1 });
  return d;
}

export function iso(d: DateTime): string {
  return d.toUTC().toISO({ suppressMilliseconds: false })!;
}

export interface Running {
  handle: WorkflowHandleWithFirstExecutionRunId<typeof enrollmentWorkflow>;
  input: VersionedEnrollmentInput;
}

/** Starts an enrollment at the server's current time (call skipTo first). */
export async function startEnrollment(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  inp: VersionedEnrollmentInput,
  options: EnrollmentOptions = {},
): Promise<Running> {
  const handle = await env.client.workflow.start(enrollmentWorkflow, {
    taskQueue,
    workflowId: enrollmentWorkflowId(inp.workspaceId, inp.automationId, inp.record.externalId, 1),
    args: [inp, options],
  });
  return { handle, input: inp };
}

export async function newWorker(env: TestWorkflowEnvironment, recorder: Recorder | { activities: object }, taskQueue: string): Promise<Worker> {
  return Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: recorder.activities,
  });
}

let queues = 0;
export function taskQueue(name: string): string {
  queues++;
  return `${name}-${queues}-${Date.now()}`;
}
