/**
 * The enrollment workflow: one run per record x automation version, interpreting the definition
 * snapshot it was started with (docs/design.md §6). The step walk itself is domain/interpreter.ts (the
 * same code the preview runs); this file only performs its commands with Temporal: timers and
 * conditions for sleeps, activities for effects, search-attribute upserts, continue-as-new.
 *
 * CODE VERSIONING — read before changing this file or domain/interpreter.ts.
 * Running enrollments replay this code from their history. Any change that alters the order or
 * kind of commands (activities scheduled, timers, search-attribute upserts, continue-as-new, child
 * workflows) for an existing history must go behind `patched('<change-id>')`, keeping the old
 * path for histories recorded without the marker; later `deprecatePatch()` then removal once no
 * run without it is open (docs/design.md §6.5). test/workflow/replay.test.ts replays test/histories/*.json
 * and fails the build on any non-determinism; record new histories with
 * scripts/record-histories.ts when a behaviour is added.
 *
 * Only deterministic imports: @temporalio/workflow, domain/*, and types.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { SEND_ACTIVITY_OPTIONS } from '#domain/delivery';
import { WEBHOOK_ACTIVITY_OPTIONS } from '#domain/webhook-step';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { Activities } from '#activities/index';
import { currentInput, UnsupportedInputVersion, type VersionedEnrollmentInput } from '#domain/enrollment';
import { DefinitionError, EnrollmentInterpreter, type CarriedState, type Command, type EnrollmentResult, type Outcome, type Reply } from '#domain/interpreter';
import { EnrollmentSearchAttributes, eventSignal, exitSignal, pauseSignal, recordChangedSignal, resumeSignal, stateQuery } from './signals';

export type { CarriedState, EnrollmentResult } from '#domain/interpreter';

// ---------------------------------------------------------------------------------------------
// Activities: one proxy per profile, each typed to the activities it may call, so nothing can be
// called with the wrong timeout or retry policy. A cancelled activity (an exit while it waits or
// retries, a cancelled workflow) is waited for until it has really stopped
// (WAIT_CANCELLATION_COMPLETED), so the enrollment never records an exit while a send may still go out.

/** Our own database: quick, retried until the database is back. */
const db = proxyActivities<Pick<Activities, 'recordProgress' | 'createTask' | 'updateRecord' | 'countEvents'>>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '2m' },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

/** Provider sends: transient errors back off (honouring Retry-After via nextRetryDelay); a send
 *  that still fails after ~2 hours is recorded as failed and the sequence goes on. The timeouts
 *  nest with the send's lease (domain/delivery.ts) so two attempts never overlap; a cancel (exit)
 *  waits for the activity to finish aborting its provider request. */
const send = proxyActivities<Pick<Activities, 'sendMessage' | 'notifyOwner'>>({
  ...SEND_ACTIVITY_OPTIONS,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

/** Outbound webhooks: a few retries for 5xx/timeouts, then the failure is an outcome to branch on. */
const hook = proxyActivities<Pick<Activities, 'callWebhook'>>({
  ...WEBHOOK_ACTIVITY_OPTIONS,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

export interface EnrollmentOptions {
  /** Set by continue-as-new. */
  carry?: CarriedState;
  /** Steps run before continuing as new even if the server does not suggest it (tests lower it). */
  stepsPerRun?: number;
  /** History events after which a run continues as new, also in the middle of a wait (default HISTORY_LIMIT.events). */
  historyEventsLimit?: number;
}

/**
 * The stated history bound: a run continues as new once its history passes this many events or
 * bytes (or when the server suggests it), also in the middle of a wait, carrying the wait's due
 * time and the events not yet consumed. Temporal warns at 10,240 events / 10 MiB and terminates a
 * run at 51,200 / 50 MiB; it refuses a continue-as-new while a signal waits, and the worker then
 * replays the whole run before trying again (temporalio/temporal#1289), so a short run keeps that
 * window short under noise. Measured (docs/benchmarks.md, "History events per step and per
 * signal"): a step 6-19 events, a signal 4 alone and 1.1 among others.
 */
export const HISTORY_LIMIT = { events: 2_000, bytes: 4 * 1024 * 1024 };
/** The bound of runs started before it was lowered ('history-bound-2000'): they keep it, or they would continue as new where their history did not. */
const FIRST_HISTORY_LIMIT = { events: 10_000, bytes: Infinity };

/** An activity's failure after its retries is an outcome for the interpreter; anything else (a cancellation) is not. */
async function attempt<T>(call: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await call() };
  } catch (err) {
    if (!(err instanceof ActivityFailure) || isCancellation(err)) throw err;
    return { ok: false, error: err, message: err.cause?.message ?? err.message };
  }
}

export async function enrollmentWorkflow(started: VersionedEnrollmentInput, options: EnrollmentOptions = {}): Promise<EnrollmentResult> {
  const input = readInput(started);
  const info = workflowInfo();
  const limit =
    options.historyEventsLimit !== undefined
      ? { ...HISTORY_LIMIT, events: options.historyEventsLimit }
      : patched('history-bound-2000')
        ? HISTORY_LIMIT
        : FIRST_HISTORY_LIMIT;
  const interpreter = new EnrollmentInterpreter({
    input,
    ...(options.carry ? { carry: options.carry } : {}),
    workflowId: info.workflowId,
    clock: () => Date.now(),
    ...(options.stepsPerRun !== undefined ? { stepsPerRun: options.stepsPerRun } : {}),
    continueAsNewSuggested: () => workflowInfo().continueAsNewSuggested,
    historyFull: () => {
      const now = workflowInfo();
      return now.continueAsNewSuggested || now.historyLength >= limit.events || now.historySize >= limit.bytes;
    },
    patched,
    isCancellation,
    log: (message, attrs) => log.warn(message, attrs),
  });

  // Signals and query: registered before the first await.
  setHandler(eventSignal, (e) => interpreter.onEvent(e));
  setHandler(recordChangedSignal, (c) => interpreter.onRecordChange(c));
  setHandler(pauseSignal, () => interpreter.onPause());
  setHandler(resumeSignal, () => interpreter.onResume());
  setHandler(exitSignal, ({ reason }) => interpreter.onExit(reason));
  setHandler(stateQuery, () => interpreter.state());

  /** Values last upserted, by attribute name: only changes are sent (each upsert is a command). */
  const published = new Map<string, string>();
  function publishSearchAttributes(): void {
    const A = EnrollmentSearchAttributes;
    const now = interpreter.searchAttributes();
    const pairs: SearchAttributeUpdatePair[] = [
      { key: A.WorkspaceId, value: input.workspaceId },
      { key: A.AutomationId, value: input.automationId },
      { key: A.AutomationVersion, value: input.version },
      { key: A.RecordId, value: input.record.externalId },
      { key: A.EnrollmentStatus, value: now.status },
      { key: A.CurrentStep, value: now.currentStep },
    ];
    const changed = pairs.filter((p) => {
      const before = published.get(p.key.name) ?? JSON.stringify(info.typedSearchAttributes.get(p.key as never) ?? null);
      return before !== JSON.stringify(p.value ?? null);
    });
    for (const p of changed) published.set(p.key.name, JSON.stringify(p.value ?? null));
    if (changed.length > 0) upsertSearchAttributes(changed);
  }

  /**
   * Runs a step's activity; an exit requested meanwhile cancels it (it may be waiting for a retry
   * for hours) and the interpreter records the step as cut short.
   */
  async function step<T>(call: () => Promise<T>): Promise<Outcome<T>> {
    const scope = new CancellationScope();
    let settled = false;
    let cancelledByExit = false;
    void condition(() => settled || interpreter.exitRequested()).then(
      () => {
        if (settled || !patched('exit-cancels-step-activity')) return;
        cancelledByExit = true;
        scope.cancel();
      },
      () => undefined,
    ); // the run itself was cancelled: handled where the activity is awaited
    try {
      return await attempt(() => scope.run(call));
    } catch (err) {
      if (cancelledByExit && isCancellation(err)) return { ok: false, error: err, message: 'cancelled by the exit', cancelled: true };
      throw err;
    } finally {
      settled = true;
    }
  }

  /** Once the run is cancelled, the last progress is still written (the row must not stay active). */
  let cancelled = false;

  async function perform(cmd: Command): Promise<Reply> {
    switch (cmd.kind) {
      case 'publish':
        publishSearchAttributes();
        return;
      case 'progress':
        publishSearchAttributes();
        return cancelled ? CancellationScope.nonCancellable(() => attempt(() => db.recordProgress(cmd.update))) : attempt(() => db.recordProgress(cmd.update));
      case 'sleep':
        return cmd.until === null ? condition(cmd.wake).then(() => true) : condition(cmd.wake, cmd.until - Date.now());
      case 'sendMessage':
        return step(() => send.sendMessage(cmd.request));
      case 'notifyOwner':
        return attempt(() => send.notifyOwner(cmd.request));
      case 'createTask':
        return step(() => db.createTask(cmd.request));
      case 'updateRecord':
        return step(() => db.updateRecord(cmd.request));
      case 'callWebhook':
        return step(() => hook.callWebhook(cmd.request));
      case 'countEvents':
        return attempt(() => db.countEvents(cmd.request));
      case 'continueAsNew':
        return continueAsNew<typeof enrollmentWorkflow>(started, { ...options, carry: cmd.carry });
    }
  }

  const walk = interpreter.run();
  let next = walk.next();
  for (;;) {
    if (next.done) return next.value;
    let reply: Reply;
    try {
      reply = await perform(next.value);
    } catch (err) {
      // Continue-as-new ends this run here; anything else (a cancellation) goes through the walk.
      if (next.value.kind === 'continueAsNew') throw err;
      if (isCancellation(err)) cancelled = true;
      next = resume(() => walk.throw(err));
      continue;
    }
    next = resume(() => walk.next(reply));
  }
}

/** The input in its newest version; one this code does not know (a newer deployment's) fails the workflow instead of retrying its task. */
function readInput(started: VersionedEnrollmentInput) {
  try {
    return currentInput(started);
  } catch (err) {
    if (err instanceof UnsupportedInputVersion) throw ApplicationFailure.nonRetryable(err.message, 'BadInput');
    throw err;
  }
}

/** Steps the walk; a definition it cannot run fails the workflow (not just its task, which would retry forever). */
function resume<T>(step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (err instanceof DefinitionError) throw ApplicationFailure.nonRetryable(err.message, 'BadDefinition');
    throw err;
  }
}
