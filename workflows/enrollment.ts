/**
 * The enrollment workflow: one run per record x automation version, interpreting the definition
 * snapshot it was started with (DESIGN §4). For each step: compute its due time with
 * domain/timing (the same pure code the preview uses), wait with `condition(..., dueAt - now)` so
 * signals cut the wait short, hold while paused, run the step's activity, record progress.
 *
 * CODE VERSIONING — read before changing this file.
 * Running enrollments replay this code from their history. Any change that alters the order or
 * kind of commands (activities scheduled, timers, search-attribute upserts, continue-as-new, child
 * workflows) for an existing history must go behind `patched('<change-id>')`, keeping the old
 * path for histories recorded without the marker; later `deprecatePatch()` then removal once no
 * run without it is open (STYLE §6). test/workflow/replay.test.ts replays test/histories/*.json
 * and fails the build on any non-determinism; record new histories with
 * scripts/record-histories.ts when a behaviour is added.
 *
 * Only deterministic imports: @temporalio/workflow, domain/*, and types.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  ContinueAsNew,
  continueAsNew,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { Activities, RenderContext, SendMessageResult, WebhookOutcome } from '../activities';
import type { Condition, ExitRule, Notify, Step, StepOf } from '../domain/definition';
import { END, defaultNext as nextInList } from '../domain/flow';
import type {
  EnrollmentEvent,
  EnrollmentInput,
  EnrollmentState,
  EnrollmentStatus,
  RecordChange,
  RecordSnapshot,
  TimelineEntry,
} from '../domain/enrollment';
import { evaluate } from '../domain/conditions';
import { addDuration } from '../domain/duration';
import { dueAt as stepDueAt, recipientTimeZone, stepDeadline } from '../domain/timing';
import { EnrollmentSearchAttributes, eventSignal, exitSignal, pauseSignal, recordChangedSignal, resumeSignal, stateQuery } from './signals';

// ---------------------------------------------------------------------------------------------
// Activities: one proxy per profile.

/** Our own database: quick, retried until the database is back. */
const db = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '2m' },
});

/** Provider sends: transient errors back off (honouring Retry-After via nextRetryDelay); a send
 *  that still fails after ~2 hours is recorded as failed and the sequence goes on. */
const send = proxyActivities<Activities>({
  startToCloseTimeout: '60s',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '15m', maximumAttempts: 12 },
});

/** Outbound webhooks: a few retries for 5xx/timeouts, then the failure is an outcome to branch on. */
const hook = proxyActivities<Activities>({
  startToCloseTimeout: '20s',
  retry: { initialInterval: '10s', backoffCoefficient: 3, maximumInterval: '10m', maximumAttempts: 5 },
});

// ---------------------------------------------------------------------------------------------
// State carried across continue-as-new.

export interface CarriedState {
  cursor: string;
  status: EnrollmentStatus;
  paused: boolean;
  record: RecordSnapshot;
  /** Fields changed by someone else since enrollment (skipIfChanged). */
  changedFields: string[];
  seenEventIds: string[];
  seenChangeIds: string[];
  /** Change ids of this enrollment's own update_record steps: their recordChanged echo is not a change by someone else. */
  ownChangeIds?: string[];
  /** Events received (type, time): eventCount conditions. */
  eventLog: Array<{ type: string; at: number }>;
  /** The trigger event, or the event that ended the last wait_for: `event.*` in conditions. */
  event: EnrollmentEvent | null;
  steps: Record<string, Record<string, unknown>>;
  visits: Record<string, number>;
  previousAt: number;
  timeline: TimelineEntry[];
  runs: number;
}

export interface EnrollmentOptions {
  /** Set by continue-as-new. */
  carry?: CarriedState;
  /** Steps run before continuing as new even if the server does not suggest it (tests lower it). */
  stepsPerRun?: number;
}

export interface EnrollmentResult {
  status: EnrollmentStatus;
  exitReason: string | null;
  converted: boolean;
}

const DEFAULT_STEPS_PER_RUN = 500;
/**
 * A step run within this long after its due time counts as run on time: the next step is
 * scheduled from the nominal time, so worker latency never drifts a schedule (and the workflow
 * agrees with the preview). Later than that (held by a pause, a long outage), from when it ran.
 */
const ON_TIME_TOLERANCE_MS = 60_000;
const TIMELINE_LIMIT = 500;
const CARRIED_TIMELINE = 100;
const SEEN_LIMIT = 2000;
const EVENT_LOG_LIMIT = 2000;

interface PendingExit {
  status: 'exited';
  reason: string;
  notify?: Notify;
  converted: boolean;
  /** The event that ended it (a reply): what the owner's notification shows. */
  event?: EnrollmentEvent;
}

interface ReceivedEvent {
  seq: number;
  event: EnrollmentEvent;
}

function tail<T>(xs: T[], n: number): T[] {
  return xs.length > n ? xs.slice(xs.length - n) : xs;
}

function applyChange(record: RecordSnapshot, key: string, value: unknown): RecordSnapshot {
  if (key.startsWith('attributes.')) {
    return { ...record, attributes: { ...record.attributes, [key.slice('attributes.'.length)]: value } };
  }
  const field = key === 'owner_id' ? 'ownerId' : key;
  if (field in record && field !== 'attributes' && field !== 'externalId') {
    return { ...record, [field]: value === undefined ? null : (value as string | null) };
  }
  return record;
}

function readChange(record: RecordSnapshot, key: string): unknown {
  if (key.startsWith('attributes.')) return record.attributes[key.slice('attributes.'.length)];
  const field = key === 'owner_id' ? 'ownerId' : key;
  return (record as unknown as Record<string, unknown>)[field];
}

/** `fieldChanged: "attributes"` covers every attribute; `"ownerId"` and `"owner_id"` are one field. */
function fieldMatches(rule: string, changed: string): boolean {
  const norm = (f: string) => (f === 'owner_id' ? 'ownerId' : f);
  return norm(rule) === norm(changed) || changed.startsWith(`${rule}.`);
}

export async function enrollmentWorkflow(input: EnrollmentInput, options: EnrollmentOptions = {}): Promise<EnrollmentResult> {
  if (input.v !== 1) throw ApplicationFailure.nonRetryable(`unsupported enrollment input version ${String(input.v)}`, 'BadInput');
  const def = input.definition;
  const settings = def.settings ?? {};
  const exitRules: ExitRule[] = def.exitWhen ?? [];
  const stepsPerRun = options.stepsPerRun ?? DEFAULT_STEPS_PER_RUN;
  const byId = new Map<string, { step: Step; index: number }>(def.steps.map((s, index) => [s.id, { step: s, index }]));
  const startedAtMs = Date.parse(input.startedAt);
  const info = workflowInfo();
  const seq = Number(/\/(\d+)$/.exec(info.workflowId)?.[1] ?? 1);

  // ---- state
  const carry = options.carry;
  let cursor = carry?.cursor ?? def.steps[0]!.id;
  let status: EnrollmentStatus = carry?.status ?? 'active';
  let paused = carry?.paused ?? false;
  let record: RecordSnapshot = carry?.record ?? input.record;
  const changedFields = new Set(carry?.changedFields ?? []);
  const seenEventIds = new Set(carry?.seenEventIds ?? (input.trigger ? [input.trigger.id] : []));
  const seenChangeIds = new Set(carry?.seenChangeIds ?? []);
  const ownChangeIds = new Set<string>(carry?.ownChangeIds ?? []);
  const eventLog: Array<{ type: string; at: number }> =
    carry?.eventLog ?? (input.trigger ? [{ type: input.trigger.type, at: Date.parse(input.trigger.occurredAt) }] : []);
  let event: EnrollmentEvent | null = carry?.event ?? input.trigger;
  const steps: Record<string, Record<string, unknown>> = carry?.steps ?? {};
  const visits: Record<string, number> = carry?.visits ?? {};
  let previousAt = carry?.previousAt ?? startedAtMs;
  const timeline: TimelineEntry[] = carry?.timeline ?? [];
  const runs = (carry?.runs ?? 0) + 1;
  let pendingExit: PendingExit | null = null;
  let finalReason: string | null = null;
  let converted = false;
  let waitingDueAt: number | null = null;
  const received: ReceivedEvent[] = [];
  let receivedSeq = 0;

  // ---- condition context
  /** Events this enrollment has seen (the trigger and every signalled event). */
  function eventCount(type: string, within?: string): number {
    const now = Date.now();
    const since = within ? addDuration(new Date(now), `-${within}`, 'UTC').getTime() : -Infinity;
    return eventLog.filter((e) => e.type === type && e.at >= since).length;
  }
  function holds(cond: Condition, ev: EnrollmentEvent | null = event): boolean {
    return evaluate(cond, { record, event: ev, steps }, { eventCount });
  }

  function requestExit(reason: string, rule?: { notify?: Notify }, isGoal = false, cause?: EnrollmentEvent): void {
    if (pendingExit || status === 'completed' || status === 'exited') return;
    pendingExit = { status: 'exited', reason, converted: isGoal, ...(rule?.notify ? { notify: rule.notify } : {}), ...(cause ? { event: cause } : {}) };
  }

  function checkGoals(): void {
    for (const rule of exitRules) {
      if ('goal' in rule && 'when' in rule.goal && holds(rule.goal.when)) requestExit('goal', rule, true);
    }
  }

  // ---- signals and query: registered before the first await
  setHandler(eventSignal, (e) => {
    if (seenEventIds.has(e.id)) return;
    seenEventIds.add(e.id);
    eventLog.push({ type: e.type, at: Date.parse(e.occurredAt) || Date.now() });
    received.push({ seq: ++receivedSeq, event: e });
    if (received.length > 200) received.splice(0, received.length - 200);
    for (const rule of exitRules) {
      if ('event' in rule && rule.event === e.type && (!rule.where || holds(rule.where, e))) requestExit(`event:${e.type}`, rule, false, e);
      if ('goal' in rule && 'event' in rule.goal && rule.goal.event === e.type && (!rule.goal.where || holds(rule.goal.where, e))) {
        requestExit('goal', rule, true, e);
      }
    }
    checkGoals();
  });

  setHandler(recordChangedSignal, (c: RecordChange) => {
    if (seenChangeIds.has(c.id)) return;
    seenChangeIds.add(c.id);
    const own = ownChangeIds.has(c.id);
    for (const [key, value] of Object.entries(c.changes)) {
      const before = readChange(record, key);
      record = applyChange(record, key, value);
      if (own || JSON.stringify(before ?? null) === JSON.stringify(value ?? null)) continue;
      changedFields.add(key === 'owner_id' ? 'ownerId' : key);
      for (const rule of exitRules) {
        if ('fieldChanged' in rule && fieldMatches(rule.fieldChanged, key)) requestExit(`field_changed:${rule.fieldChanged}`, rule);
      }
    }
    checkGoals();
  });

  setHandler(pauseSignal, () => {
    if (status === 'active') {
      paused = true;
      status = 'paused';
    }
  });
  setHandler(resumeSignal, () => {
    if (status === 'paused') {
      paused = false;
      status = 'active';
    }
  });
  setHandler(exitSignal, ({ reason }) => requestExit(reason || 'manual'));

  setHandler(stateQuery, (): EnrollmentState => {
    const step = byId.get(cursor)?.step;
    const waiting: TimelineEntry[] =
      step && (status === 'active' || status === 'paused')
        ? [{ stepId: step.id, type: step.type, status: 'waiting', dueAt: waitingDueAt === null ? null : new Date(waitingDueAt).toISOString(), at: new Date().toISOString() }]
        : [];
    return {
      status,
      currentStep: status === 'active' || status === 'paused' ? cursor : null,
      exitReason: finalReason,
      timeline: [...timeline, ...waiting],
    };
  });

  // ---- helpers
  const ref = { workspaceId: input.workspaceId, enrollmentId: input.enrollmentId, automationId: input.automationId, recordId: input.record.externalId };
  const iso = (ms: number) => new Date(ms).toISOString();
  const context = (): RenderContext => ({
    record,
    event,
    enrollment: { id: input.enrollmentId, automationId: input.automationId, version: input.version, variant: input.variant || null },
  });
  const timezone = (): string =>
    recipientTimeZone({ record: record.timezone, ...(settings.timezone ? { automation: settings.timezone } : {}), workspace: input.workspaceTimezone });

  /** Values last upserted, by attribute name: only changes are sent (each upsert is a command). */
  const published = new Map<string, string>();
  function publishSearchAttributes(): void {
    const A = EnrollmentSearchAttributes;
    const pairs: SearchAttributeUpdatePair[] = [
      { key: A.WorkspaceId, value: input.workspaceId },
      { key: A.AutomationId, value: input.automationId },
      { key: A.AutomationVersion, value: input.version },
      { key: A.RecordId, value: input.record.externalId },
      { key: A.EnrollmentStatus, value: status },
      { key: A.CurrentStep, value: status === 'active' || status === 'paused' ? cursor : null },
    ];
    const changed = pairs.filter((p) => {
      const before = published.get(p.key.name) ?? JSON.stringify(info.typedSearchAttributes.get(p.key as never) ?? null);
      return before !== JSON.stringify(p.value ?? null);
    });
    for (const p of changed) published.set(p.key.name, JSON.stringify(p.value ?? null));
    if (changed.length > 0) upsertSearchAttributes(changed);
  }

  async function progress(step?: { step: Step; visit: number; status: 'done' | 'skipped' | 'failed'; dueAt: number | null; detail?: Record<string, unknown> }, ended?: boolean) {
    const now = Date.now();
    if (step) {
      const entry: TimelineEntry = {
        stepId: step.step.id,
        type: step.step.type,
        status: step.status,
        dueAt: step.dueAt === null ? null : iso(step.dueAt),
        at: iso(now),
        ...(step.detail ? { detail: step.detail } : {}),
      };
      timeline.push(entry);
      if (timeline.length > TIMELINE_LIMIT) timeline.splice(0, timeline.length - TIMELINE_LIMIT);
    }
    publishSearchAttributes();
    await db.recordProgress({
      ...ref,
      version: input.version,
      workflowId: info.workflowId,
      seq,
      variant: input.variant || null,
      triggerEventId: input.trigger?.id ?? null,
      startedAt: input.startedAt,
      status,
      currentStep: ended ? null : cursor,
      exitReason: finalReason,
      converted,
      endedAt: ended ? iso(now) : null,
      ...(step
        ? {
            step: {
              stepId: step.step.id,
              visit: step.visit,
              type: step.step.type,
              status: step.status,
              dueAt: step.dueAt === null ? null : iso(step.dueAt),
              at: iso(now),
              ...(step.detail ? { detail: step.detail } : {}),
            },
          }
        : {}),
    });
  }

  /** Waits until `until` (or forever when null); true when `wake` became true first. Records pause/resume as they happen. */
  async function waitUntil(until: number | null, wake: () => boolean): Promise<boolean> {
    for (;;) {
      if (pendingExit || wake()) return true;
      const seenPaused = paused;
      const remaining = until === null ? undefined : until - Date.now();
      if (remaining !== undefined && remaining <= 0) return false;
      const woke = await (remaining === undefined
        ? condition(() => pendingExit !== null || wake() || paused !== seenPaused).then(() => true)
        : condition(() => pendingExit !== null || wake() || paused !== seenPaused, remaining));
      if (!woke) return false;
      if (paused !== seenPaused && !pendingExit) await progress();
    }
  }

  const defaultNext = (step: Step): string => nextInList(def.steps, byId.get(step.id)!.index);

  function variantTemplate(step: StepOf<'email'>): string {
    if (step.variants && step.variants.length > 0) {
      const letter = (input.variant || 'A').toUpperCase();
      const index = Math.max(0, letter.charCodeAt(0) - 65) % step.variants.length;
      return step.variants[index]!.template;
    }
    if (!step.template) throw ApplicationFailure.nonRetryable(`email step ${step.id} has neither template nor variants`, 'BadDefinition');
    return step.template;
  }

  interface Outcome {
    status: 'done' | 'skipped' | 'failed';
    next: string;
    /** When the step finished, for `after_previous` timing of the next step. */
    at: number;
    detail?: Record<string, unknown>;
    exit?: string;
  }

  async function sendStep(step: StepOf<'email' | 'sms' | 'voicemail' | 'email_user'>, visit: number, dueAt: number): Promise<Outcome> {
    const templateId = step.type === 'email' ? variantTemplate(step) : step.template;
    const channel = step.type === 'email_user' ? 'email' : step.type;
    const variant = step.type === 'email' && step.variants ? (input.variant || 'A').toUpperCase() : null;
    let result: SendMessageResult;
    try {
      result = await send.sendMessage({
        ...ref,
        idempotencyKey: `${input.enrollmentId}:${step.id}:${visit}`,
        stepId: step.id,
        channel,
        to: step.to ?? (step.type === 'email_user' ? 'owner' : 'record'),
        template: input.templates[templateId] ?? null,
        templateId,
        variant,
        context: context(),
        dueAt: iso(dueAt),
      });
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      log.warn('send failed after retries', { stepId: step.id, error: err.cause?.message ?? err.message });
      steps[step.id] = { status: 'failed', error: err.cause?.message ?? err.message };
      return { status: 'failed', next: defaultNext(step), at: Date.now(), detail: { error: err.cause?.message ?? err.message, template: templateId } };
    }
    steps[step.id] = { status: result.status, messageId: result.messageId, variant };
    return {
      status: result.status === 'failed' ? 'failed' : 'done',
      next: defaultNext(step),
      at: dueAt,
      detail: { messageId: result.messageId, messageStatus: result.status, template: templateId, ...(variant ? { variant } : {}), ...(result.error ? { error: result.error } : {}) },
    };
  }

  async function runStep(step: Step, visit: number, dueAt: number, markerSeq: number): Promise<Outcome> {
    const key = `${input.enrollmentId}:${step.id}:${visit}`;
    switch (step.type) {
      case 'wait': {
        const end = stepDeadline(step, new Date(dueAt), timezone())!.getTime();
        await waitUntil(end, () => false);
        if (pendingExit && Date.now() < end) return { status: 'skipped', next: END, at: Date.now(), detail: { cutShortBy: pendingExit.reason } };
        return { status: 'done', next: defaultNext(step), at: end };
      }
      case 'email':
      case 'sms':
      case 'voicemail':
      case 'email_user':
        return sendStep(step, visit, dueAt);
      case 'task': {
        const due = stepDeadline(step, new Date(dueAt), timezone())?.toISOString() ?? null;
        const r = await db.createTask({
          ...ref,
          idempotencyKey: key,
          stepId: step.id,
          assignee: step.assignee ?? 'owner',
          ownerId: record.ownerId,
          template: input.templates[step.template] ?? null,
          priority: step.priority ?? 'normal',
          dueAt: due,
          context: context(),
        });
        steps[step.id] = { taskId: r.taskId, assigneeId: r.assigneeId };
        return { status: 'done', next: defaultNext(step), at: dueAt, detail: { taskId: r.taskId, assigneeId: r.assigneeId, priority: step.priority ?? 'normal' } };
      }
      case 'update_record': {
        ownChangeIds.add(key);
        const r = await db.updateRecord({ ...ref, changeId: key, set: step.set, at: iso(dueAt) });
        for (const [field, value] of Object.entries(r.changes)) record = applyChange(record, field, value);
        steps[step.id] = { changes: r.changes, found: r.found };
        return { status: 'done', next: defaultNext(step), at: dueAt, detail: { changes: r.changes } };
      }
      case 'webhook': {
        let outcome: WebhookOutcome;
        try {
          outcome = await hook.callWebhook({ ...ref, idempotencyKey: key, stepId: step.id, endpointId: step.endpoint, payload: step.payload ?? {}, context: context() });
        } catch (err) {
          if (!(err instanceof ActivityFailure)) throw err;
          outcome = { ok: false, status: null, error: err.cause?.message ?? err.message };
        }
        steps[step.id] = { ...outcome };
        const next = outcome.ok ? defaultNext(step) : (step.onFailure ?? defaultNext(step));
        return { status: outcome.ok ? 'done' : 'failed', next, at: Date.now() - dueAt > ON_TIME_TOLERANCE_MS ? Date.now() : dueAt, detail: { ...outcome } };
      }
      case 'wait_for': {
        const deadline = stepDeadline(step, new Date(dueAt), timezone())!.getTime();
        const match = (): ReceivedEvent | undefined =>
          received.find((r) => r.seq > markerSeq && r.event.type === step.event && (!step.where || holds(step.where, r.event)));
        const arrived = await waitUntil(deadline, () => match() !== undefined);
        const hit = match();
        if (arrived && hit) {
          event = hit.event;
          steps[step.id] = { received: true, eventId: hit.event.id };
          return { status: 'done', next: step.onEvent ?? defaultNext(step), at: Date.now(), detail: { outcome: 'event', eventId: hit.event.id } };
        }
        if (pendingExit) return { status: 'skipped', next: END, at: Date.now() };
        steps[step.id] = { received: false };
        return { status: 'done', next: step.onTimeout ?? defaultNext(step), at: deadline, detail: { outcome: 'timeout' } };
      }
      case 'branch': {
        const index = step.cases.findIndex((c) => holds(c.when));
        const next = index >= 0 ? step.cases[index]!.next : (step.otherwise ?? defaultNext(step));
        steps[step.id] = { case: index >= 0 ? index : 'otherwise', next };
        return { status: 'done', next, at: previousAt, detail: { case: index >= 0 ? index : 'otherwise', next } };
      }
      case 'exit':
        return { status: 'done', next: END, at: dueAt, exit: step.reason ?? `step:${step.id}` };
    }
  }

  // ---- the interpreter
  try {
    /** Events received from when the previous step started count for a wait_for (a rating that
     *  arrives while the question is being sent is not lost); for a first step, from the start. */
    let previousStartSeq = receivedSeq;
    publishSearchAttributes();
    if (!carry) await progress();
    let stepsThisRun = 0;

    while (cursor !== END && !pendingExit) {
      const entry = byId.get(cursor);
      if (!entry) throw ApplicationFailure.nonRetryable(`step ${cursor} is not in the definition`, 'BadDefinition');
      const step = entry.step;
      const visit = (visits[step.id] ?? 0) + 1;
      visits[step.id] = visit;

      const due = stepDueAt({
        step,
        settings,
        previousCompletedAt: new Date(previousAt),
        enrolledAt: new Date(startedAtMs),
        // Never before the previous step ran (after_start steps without a delay follow at once).
        now: new Date(Math.max(previousAt, Date.now() - ON_TIME_TOLERANCE_MS)),
        timeZone: timezone(),
      }).getTime();
      waitingDueAt = due;
      publishSearchAttributes();
      await waitUntil(due, () => false);
      if (pendingExit) break;
      if (paused) {
        await waitUntil(null, () => !paused);
        if (pendingExit) break;
      }
      const startAt = Date.now() - due > ON_TIME_TOLERANCE_MS ? Date.now() : due;
      const startSeq = receivedSeq;
      waitingDueAt = null;

      let outcome: Outcome;
      const skipped = (step.skipIfChanged ?? []).find((f) => [...changedFields].some((c) => fieldMatches(f, c)));
      if (skipped) {
        outcome = { status: 'skipped', next: defaultNext(step), at: startAt, detail: { reason: `field_changed:${skipped}` } };
      } else {
        outcome = await runStep(step, visit, startAt, step.type === 'wait_for' ? previousStartSeq : startSeq);
      }
      previousStartSeq = startSeq;
      previousAt = outcome.at;
      if (outcome.exit) requestExit(outcome.exit);
      checkGoals();
      cursor = pendingExit ? cursor : outcome.next;
      if (cursor === END && !pendingExit) status = 'completed';
      await progress({ step, visit, status: outcome.status, dueAt: due, ...(outcome.detail ? { detail: outcome.detail } : {}) }, cursor === END);

      stepsThisRun++;
      if (cursor !== END && !pendingExit && (stepsThisRun >= stepsPerRun || workflowInfo().continueAsNewSuggested)) {
        const next: CarriedState = {
          cursor,
          status,
          paused,
          record,
          changedFields: [...changedFields],
          seenEventIds: tail([...seenEventIds], SEEN_LIMIT),
          seenChangeIds: tail([...seenChangeIds], SEEN_LIMIT),
        ownChangeIds: tail([...ownChangeIds], SEEN_LIMIT),
          eventLog: tail(eventLog, EVENT_LOG_LIMIT),
          event,
          steps,
          visits,
          previousAt,
          timeline: tail(timeline, CARRIED_TIMELINE),
          runs,
        };
        await continueAsNew<typeof enrollmentWorkflow>(input, { carry: next, stepsPerRun });
      }
    }

    if (pendingExit) {
      const exit: PendingExit = pendingExit;
      status = 'exited';
      finalReason = exit.reason;
      converted = exit.converted;
      if (exit.notify) {
        await send.notifyOwner({
          ...ref,
          idempotencyKey: `${input.enrollmentId}:exit`,
          notify: exit.notify,
          ownerId: record.ownerId,
          reason: exit.reason,
          context: { ...context(), event: exit.event ?? event },
          at: iso(Date.now()),
        });
      }
      await progress(undefined, true);
    } else if (status !== 'completed') {
      status = 'completed';
      await progress(undefined, true);
    }
  } catch (err) {
    // Continue-as-new is not a failure; anything else (a definition the schema let through but the
    // interpreter cannot run, a non-retryable activity error) marks the enrollment failed, then fails the run.
    if (err instanceof ContinueAsNew) throw err;
    status = 'failed';
    finalReason = `error: ${err instanceof Error ? err.message : String(err)}`.slice(0, 500);
    await progress(undefined, true);
    throw err;
  }
  return { status, exitReason: finalReason, converted };
}
