/**
 * A dry run of an enrollment: the path a record would take through a definition and when each
 * step would fall due, with simulated events arriving meanwhile. It drives the workflow's own
 * interpreter (domain/interpreter.ts) with a simulated clock instead of Temporal:
 *
 * - a sleep moves the clock to its end, delivering the simulated events that arrive before it in
 *   order (each is the workflow's `event` signal); an event that wakes the walk ends the sleep;
 * - eventCount leaves count the record's stored events (`storedEvents`) and the simulated events
 *   delivered so far, as the countEvents activity counts the events table and the signals;
 * - sends, tasks and webhooks succeed at once (a send whose template the automation version does
 *   not pin fails, as the send activity does); `update_record` changes the simulated record.
 */
import type { SendMessageRequest } from './commands';
import type { AutomationDefinition, Step } from './definition';
import {
  currentInput,
  missingTemplateError,
  type EnrollmentEvent,
  type EnrollmentInputV1,
  type RecordSnapshot,
  type StepOutcome,
  type TemplateSnapshot,
} from './enrollment';
import { EnrollmentInterpreter, type Command, type Reply } from './interpreter';
import { diffChanges } from './record-changes';
import { countLeaves, type CountedEvent } from './event-counts';

export interface PreviewEvent {
  type: string;
  at: Date;
  properties?: Record<string, unknown>;
}

export interface PreviewInput {
  definition: AutomationDefinition;
  /** The template versions the automation version pins, by id (a send without one fails). */
  templates: Record<string, TemplateSnapshot>;
  record: RecordSnapshot;
  startAt: Date;
  events?: PreviewEvent[];
  /** The record's events already stored (of the types the definition counts): what its eventCount leaves find besides `events`. */
  storedEvents?: CountedEvent[];
  workspaceTimezone: string;
  /** The timing rules and workspace default quiet hours a new enrollment would get (domain/timing.ts); absent, as in an input of version 1. */
  timing?: Pick<EnrollmentInputV1, 'timingRules' | 'workspaceQuietHours'>;
  /** The event that enrolled the record (`event.*` in conditions), if any. */
  trigger?: EnrollmentEvent | null;
  /** A/B letter (default 'A'). */
  variant?: string;
  /** Bounds the work of one preview, which runs inside an API request (default `PREVIEW_BUDGET`). */
  budget?: PreviewBudget;
}

/**
 * Steps, and milliseconds of the caller's clock (`now`; domain/ reads no clock itself), that one
 * preview may spend. Past either, the preview stops with `PreviewBudgetExceeded`: a loop that never
 * ends, or a definition too costly to walk, must not hold the API's event loop.
 */
export interface PreviewBudget {
  steps: number;
  millis?: number;
  now?: () => number;
}

/**
 * 250 ms: a step costs ~0.5-3 ms on a loaded 2-core machine (timing rules, conditions), so a long
 * legitimate walk of a few dozen steps passes while a loop or a definition too costly to walk is
 * stopped well before it holds the API for long. (Above the ~50 ms aimed at elsewhere: a preview
 * walks a whole enrollment, where a workflow task runs one step.)
 */
export const PREVIEW_BUDGET = { steps: 1000, millis: 250 } as const;

export class PreviewBudgetExceeded extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PreviewBudgetExceeded';
  }
}

export interface PreviewStep {
  stepId: string;
  type: Step['type'];
  dueAt: string;
  status: StepOutcome;
  /** What happened: the branch taken, a wait_for's outcome, the template a send would use. */
  detail?: Record<string, unknown>;
  /** A send: its pinned template and what the template would read then (the caller renders it). */
  send?: Pick<SendMessageRequest, 'channel' | 'template' | 'context'>;
}

export interface PreviewResult {
  steps: PreviewStep[];
  outcome: 'completed' | 'exited' | 'failed' | 'truncated';
  exitReason: string | null;
  converted: boolean;
  /** When the enrollment would end (completion, exit, or the last simulated moment). */
  endsAt: string;
}

export function simulateEnrollment(input: PreviewInput): PreviewResult {
  const budget = input.budget ?? { steps: PREVIEW_BUDGET.steps };
  const startedAt = budget.now?.();
  const overBudget = (): string | null => {
    if (steps.length >= budget.steps) return `the walk ran ${budget.steps} steps without ending (a loop?): the preview stops there`;
    if (budget.millis !== undefined && budget.now && startedAt !== undefined && budget.now() - startedAt > budget.millis) {
      return `the walk took more than ${budget.millis} ms after ${steps.length} steps: the preview stops there`;
    }
    return null;
  };
  const queue = [...(input.events ?? [])]
    .map((e, i) => ({ i, at: e.at.getTime(), event: { id: `preview-${i + 1}`, type: e.type, occurredAt: e.at.toISOString(), properties: e.properties ?? {} } }))
    .sort((a, b) => a.at - b.at || a.i - b.i);
  let delivered = 0;
  let now = input.startAt.getTime();
  const steps: PreviewStep[] = [];
  /** The send awaiting its step's progress record. */
  let sending: SendMessageRequest | null = null;

  const interpreter = new EnrollmentInterpreter({
    input: currentInput({
      v: 1,
      enrollmentId: 'preview',
      workspaceId: 'preview',
      workspaceTimezone: input.workspaceTimezone,
      automationId: 'preview',
      version: 0,
      definition: input.definition,
      templates: input.templates,
      record: input.record,
      trigger: input.trigger ?? null,
      variant: input.variant ?? 'A',
      startedAt: input.startAt.toISOString(),
      ...input.timing,
    }),
    workflowId: 'preview',
    clock: () => now,
    // One run: nothing to continue as new.
    stepsPerRun: Number.MAX_SAFE_INTEGER,
  });

  /** Delivers events until `wake` holds (true) or the clock reaches `until` (false). */
  function sleep(until: number | null, wake: () => boolean): boolean | 'stalled' {
    while (delivered < queue.length && (until === null || queue[delivered]!.at < until)) {
      const next = queue[delivered++]!;
      now = Math.max(now, next.at);
      interpreter.onEvent(next.event);
      if (wake()) return true;
    }
    if (until === null) return 'stalled';
    now = Math.max(now, until);
    return false;
  }

  function perform(cmd: Command): Reply | 'stalled' {
    switch (cmd.kind) {
      case 'publish':
        return;
      case 'progress':
        if (cmd.update.step) {
          const s = cmd.update.step;
          const send = sending?.stepId === s.stepId ? { channel: sending.channel, template: sending.template, context: sending.context } : undefined;
          sending = null;
          steps.push({
            stepId: s.stepId,
            type: s.type,
            dueAt: s.dueAt!,
            status: s.status,
            ...(s.detail ? { detail: s.detail } : {}),
            ...(send ? { send } : {}),
          });
        }
        return { ok: true, value: undefined };
      case 'sleep':
        return sleep(cmd.until, cmd.wake);
      case 'sendMessage': {
        sending = cmd.request;
        const error = cmd.request.template ? null : missingTemplateError(cmd.request.templateId);
        return { ok: true, value: { messageId: 'preview', status: error ? 'failed' : 'sent', to: null, segments: null, error, duplicate: false } };
      }
      case 'notifyOwner':
        return { ok: true, value: { taskId: null, messageId: null, assigneeId: null } };
      case 'createTask':
        return { ok: true, value: { taskId: 'preview', assigneeId: null, title: '', created: true } };
      case 'updateRecord':
        return { ok: true, value: { changes: diffChanges(interpreter.snapshot(), cmd.request.set), found: true } };
      case 'callWebhook':
        return { ok: true, value: { ok: true, status: 200, error: null } };
      case 'countEvents': {
        const signalled = cmd.request.signalled.map((e) => ({ id: e.id, type: e.type, at: Date.parse(e.at) }));
        const stored = input.storedEvents ?? [];
        return {
          ok: true,
          value: { counts: countLeaves(cmd.request.leaves, Date.parse(cmd.request.at), stored, signalled), known: [...stored, ...signalled].map((e) => e.id) },
        };
      }
      case 'continueAsNew':
        throw new Error('the preview runs in one run');
    }
  }
  const walk = interpreter.run();
  const end = (outcome: PreviewResult['outcome'], exitReason: string | null = null, converted = false): PreviewResult => ({
    steps,
    outcome,
    exitReason,
    converted,
    endsAt: new Date(now).toISOString(),
  });
  let next: IteratorResult<Command, { status: string; exitReason: string | null; converted: boolean }>;
  try {
    next = walk.next();
    for (;;) {
      if (next.done) break;
      const over = overBudget();
      if (over) throw new PreviewBudgetExceeded(over);
      const reply = perform(next.value);
      if (reply === 'stalled') return end('truncated');
      next = walk.next(reply);
    }
  } catch (err) {
    if (err instanceof PreviewBudgetExceeded) throw err;
    return end('failed', `error: ${err instanceof Error ? err.message : String(err)}`);
  }
  const result = next.value;
  return end(result.status === 'exited' ? 'exited' : 'completed', result.exitReason, result.converted);
}
