/**
 * A dry run of an enrollment: the path a record would take through a definition and when each
 * step would fall due, with simulated events arriving meanwhile. Pure and deterministic: it
 * uses the same schedule code (domain/timing) and condition code (domain/conditions) as the
 * enrollment workflow and follows the workflow's interpreter rules:
 *
 * - due = dueAt(step, previous step's completion, enrollment start, now, recipient zone);
 * - a step on time counts as run at its due time; a `wait` ends at due + duration; a `wait_for`
 *   ends when a matching event arrives (events since the previous step started count) or at its
 *   timeout; a `branch` takes no time;
 * - an event that matches an exit rule (or a goal) ends the enrollment when it arrives;
 * - sends, tasks and webhooks are assumed to succeed; `update_record` changes the simulated record.
 */
import { evaluate } from './conditions';
import { END, type AutomationDefinition, type Condition, type ExitRule, type Step, type StepOf } from './definition';
import { addDuration } from './duration';
import type { EnrollmentEvent, RecordSnapshot } from './enrollment';
import { dueAt, recipientTimeZone, stepDeadline, type DueInput } from './timing';

export interface PreviewEvent {
  type: string;
  at: Date;
  properties?: Record<string, unknown>;
}

export interface PreviewInput {
  definition: AutomationDefinition;
  record: RecordSnapshot;
  startAt: Date;
  events?: PreviewEvent[];
  workspaceTimezone: string;
  /** The timing rules and workspace default quiet hours a new enrollment would get (domain/timing.ts). */
  timing?: Pick<DueInput, 'timingRules' | 'workspaceQuietHours'>;
  /** The event that enrolled the record (`event.*` in conditions), if any. */
  trigger?: EnrollmentEvent | null;
  /** A/B letter (default 'A'). */
  variant?: string;
  /** Steps simulated before giving up on a loop (default 1000). */
  maxSteps?: number;
}

export interface PreviewStep {
  stepId: string;
  type: Step['type'];
  dueAt: string;
  status: 'done' | 'skipped';
  /** What happened: the branch taken, a wait_for's outcome, the template a send would use. */
  detail?: Record<string, unknown>;
}

export interface PreviewResult {
  steps: PreviewStep[];
  outcome: 'completed' | 'exited' | 'truncated';
  exitReason: string | null;
  converted: boolean;
  /** When the enrollment would end (completion, exit, or the last simulated moment). */
  endsAt: string;
}

/** The workflow's tolerance: a step that runs within it of its due time counts as run on time. */
const ON_TIME_TOLERANCE_MS = 60_000;

interface Received {
  seq: number;
  at: number;
  event: EnrollmentEvent;
}

function applyChange(record: RecordSnapshot, key: string, value: unknown): RecordSnapshot {
  if (key.startsWith('attributes.')) return { ...record, attributes: { ...record.attributes, [key.slice('attributes.'.length)]: value } };
  const field = key === 'owner_id' ? 'ownerId' : key;
  if (field in record && field !== 'attributes' && field !== 'externalId') return { ...record, [field]: value === undefined ? null : value };
  return record;
}

export function simulateEnrollment(input: PreviewInput): PreviewResult {
  const def = input.definition;
  const settings = def.settings ?? {};
  const exitRules: ExitRule[] = def.exitWhen ?? [];
  const byId = new Map<string, { step: Step; index: number }>(def.steps.map((s, index) => [s.id, { step: s, index }]));
  const start = input.startAt.getTime();
  const maxSteps = input.maxSteps ?? 1000;
  const variant = (input.variant || 'A').toUpperCase();

  const queue = [...(input.events ?? [])]
    .map((e, i) => ({ i, at: e.at.getTime(), event: { id: `preview-${i + 1}`, type: e.type, occurredAt: e.at.toISOString(), properties: e.properties ?? {} } }))
    .sort((a, b) => a.at - b.at || a.i - b.i);
  let delivered = 0;

  let record = input.record;
  let event: EnrollmentEvent | null = input.trigger ?? null;
  const eventLog: Array<{ type: string; at: number }> = input.trigger ? [{ type: input.trigger.type, at: Date.parse(input.trigger.occurredAt) }] : [];
  const stepOutcomes: Record<string, Record<string, unknown>> = {};
  const visits: Record<string, number> = {};
  const received: Received[] = [];
  let receivedSeq = 0;
  let now = start;
  let previousAt = start;
  let cursor = def.steps[0]!.id;
  let pendingExit: { reason: string; converted: boolean; at: number } | null = null;
  const out: PreviewStep[] = [];

  const timeZone = () => recipientTimeZone({ record: record.timezone, ...(settings.timezone ? { automation: settings.timezone } : {}), workspace: input.workspaceTimezone });
  const eventCount = (type: string, within?: string) => {
    const since = within ? addDuration(new Date(now), `-${within}`, 'UTC').getTime() : -Infinity;
    return eventLog.filter((e) => e.type === type && e.at >= since).length;
  };
  const holds = (cond: Condition, ev: EnrollmentEvent | null = event) => evaluate(cond, { record, event: ev, steps: stepOutcomes }, { eventCount });
  const requestExit = (reason: string, at: number, converted = false) => {
    if (!pendingExit) pendingExit = { reason, converted, at };
  };
  const checkGoals = (at: number) => {
    for (const rule of exitRules) if ('goal' in rule && 'when' in rule.goal && holds(rule.goal.when)) requestExit('goal', at, true);
  };
  /** Delivers the events that arrive up to `t` (the workflow's event signal handler). */
  const deliverOne = (): Received | undefined => {
    const next = queue[delivered++]!;
    now = Math.max(now, next.at);
    const e = next.event;
    eventLog.push({ type: e.type, at: next.at });
    const r = { seq: ++receivedSeq, at: next.at, event: e };
    received.push(r);
    for (const rule of exitRules) {
      if ('event' in rule && rule.event === e.type && (!rule.where || holds(rule.where, e))) requestExit(`event:${e.type}`, next.at);
      if ('goal' in rule && 'event' in rule.goal && rule.goal.event === e.type && (!rule.goal.where || holds(rule.goal.where, e))) requestExit('goal', next.at, true);
    }
    checkGoals(next.at);
    return r;
  };
  const deliverUntil = (t: number) => {
    while (!pendingExit && delivered < queue.length && queue[delivered]!.at <= t) deliverOne();
  };
  const defaultNext = (step: Step) => step.next ?? def.steps[byId.get(step.id)!.index + 1]?.id ?? END;
  const templateOf = (step: StepOf<'email'>) =>
    step.variants && step.variants.length > 0 ? step.variants[Math.max(0, variant.charCodeAt(0) - 65) % step.variants.length]!.template : step.template;

  let previousStartSeq = 0;
  let count = 0;
  while (cursor !== END && !pendingExit) {
    if (count++ >= maxSteps) {
      return { steps: out, outcome: 'truncated', exitReason: null, converted: false, endsAt: new Date(now).toISOString() };
    }
    const entry = byId.get(cursor);
    if (!entry) throw new Error(`step ${cursor} is not in the definition`);
    const step = entry.step;
    visits[step.id] = (visits[step.id] ?? 0) + 1;
    // As the workflow: never before the previous step ran, with its on-time tolerance.
    const due = dueAt({
      step, settings, previousCompletedAt: new Date(previousAt), enrolledAt: new Date(start),
      now: new Date(Math.max(previousAt, now - ON_TIME_TOLERANCE_MS)), timeZone: timeZone(), ...input.timing,
    }).getTime();
    deliverUntil(due);
    if (pendingExit) break;
    now = Math.max(now, due);
    const startSeq = receivedSeq;

    let status: PreviewStep['status'] = 'done';
    let next = defaultNext(step);
    let at = due;
    let detail: Record<string, unknown> | undefined;
    let exitReason: string | undefined;
    switch (step.type) {
      case 'wait': {
        const end = stepDeadline(step, new Date(due), timeZone())!.getTime();
        deliverUntil(end);
        at = end;
        break;
      }
      case 'email':
        detail = { template: templateOf(step), ...(step.variants ? { variant } : {}) };
        stepOutcomes[step.id] = { status: 'sent' };
        break;
      case 'sms':
      case 'voicemail':
      case 'email_user':
        detail = { template: step.template };
        stepOutcomes[step.id] = { status: 'sent' };
        break;
      case 'task':
        detail = { template: step.template, priority: step.priority ?? 'normal' };
        break;
      case 'update_record':
        for (const [k, v] of Object.entries(step.set)) record = applyChange(record, k, v);
        detail = { changes: step.set };
        break;
      case 'webhook':
        stepOutcomes[step.id] = { ok: true };
        detail = { assumed: 'ok' };
        break;
      case 'wait_for': {
        const deadline = stepDeadline(step, new Date(due), timeZone())!.getTime();
        const matches = (r: Received) => r.seq > previousStartSeq && r.event.type === step.event && (!step.where || holds(step.where, r.event));
        let hit = received.find(matches);
        while (!hit && !pendingExit && delivered < queue.length && queue[delivered]!.at <= deadline) {
          const r = deliverOne()!;
          if (!pendingExit && matches(r)) hit = r;
        }
        if (hit) {
          event = hit.event;
          stepOutcomes[step.id] = { received: true, eventId: hit.event.id };
          next = step.onEvent ?? defaultNext(step);
          at = Math.max(due, hit.at);
          detail = { outcome: 'event', eventType: hit.event.type, at: new Date(at).toISOString() };
        } else if (pendingExit) {
          status = 'skipped';
          next = END;
          at = now;
        } else {
          stepOutcomes[step.id] = { received: false };
          next = step.onTimeout ?? defaultNext(step);
          at = deadline;
          detail = { outcome: 'timeout' };
        }
        break;
      }
      case 'branch': {
        const index = step.cases.findIndex((c) => holds(c.when));
        next = index >= 0 ? step.cases[index]!.next : (step.otherwise ?? defaultNext(step));
        stepOutcomes[step.id] = { case: index >= 0 ? index : 'otherwise', next };
        at = previousAt;
        detail = { case: index >= 0 ? index : 'otherwise', next };
        break;
      }
      case 'exit':
        next = END;
        exitReason = step.reason ?? `step:${step.id}`;
        break;
    }
    previousStartSeq = startSeq;
    previousAt = at;
    now = Math.max(now, at);
    if (exitReason) requestExit(exitReason, at);
    checkGoals(at);
    out.push({ stepId: step.id, type: step.type, dueAt: new Date(due).toISOString(), status, ...(detail ? { detail } : {}) });
    if (!pendingExit) cursor = next;
  }
  const exit = pendingExit as { reason: string; converted: boolean; at: number } | null;
  if (exit) return { steps: out, outcome: 'exited', exitReason: exit.reason, converted: exit.converted, endsAt: new Date(exit.at).toISOString() };
  return { steps: out, outcome: 'completed', exitReason: null, converted: false, endsAt: new Date(now).toISOString() };
}
