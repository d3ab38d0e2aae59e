/**
 * The enrollment interpreter: the one step walk (cursor, visits, due times, waits and what ends
 * them, branches, exits and goals, event counts, record changes, skipIfChanged, `when`) that both the
 * enrollment workflow (workflows/enrollment.ts) and the preview (domain/preview.ts) drive, so
 * the preview agrees with the workflow by construction.
 *
 * Pure and deterministic: no I/O, no timers, no randomness. Time comes from the driver's clock
 * (workflow time, or the preview's simulated clock). The walk is a generator of commands: the
 * driver performs each command (sleep until a time or until something wakes the walk, call an
 * activity, record progress, continue as new) and hands back its outcome. Signals (events,
 * record changes, pause, resume, exit) are method calls on the interpreter at any time; a
 * sleeping walk gives the driver a `wake` predicate that turns true when a signal concerns it.
 *
 * The order of the commands is what a workflow's history records: changing it breaks running
 * enrollments on replay, so a change goes behind a patch (`patched` of the options, which the
 * workflow maps to Temporal's `patched()`), see workflows/enrollment.ts.
 */
import type {
  CountEventsRequest,
  CountEventsResult,
  CallWebhookRequest,
  CreateTaskRequest,
  NotifyOwnerRequest,
  ProgressStep,
  ProgressUpdate,
  RenderContext,
  SendMessageRequest,
  SendMessageResult,
  CreateTaskResult,
  UpdateRecordRequest,
  UpdateRecordResult,
  WebhookOutcome,
  NotifyOwnerResult,
} from './commands';
import { evaluate } from './conditions';
import type { Condition, ExitRule, Notify, Step, StepOf } from './definition';
import { countLeavesOf, leafKey, windowStart, type CountLeaf } from './event-counts';
import type {
  EnrollmentEvent,
  EnrollmentInput,
  EnrollmentState,
  EnrollmentStatus,
  RecordChange,
  RecordSnapshot,
  StepOutcome,
  TimelineEntry,
} from './enrollment';
import { END, defaultNext as nextInList } from './flow';
import { applyChanges, fieldMatches, normalizeKey, readField, sameValue } from './record-changes';
import { definitionConditions } from './signal-interest';
import { dueAt as stepDueAt, recipientTimeZone, stepDeadline } from './timing';

/**
 * A step run within this long after its due time counts as run on time: the next step is
 * scheduled from the nominal time, so worker latency never drifts a schedule (and the workflow
 * agrees with the preview). Later than that (held by a pause, a long outage), from when it ran.
 */
export const ON_TIME_TOLERANCE_MS = 60_000;
export const DEFAULT_STEPS_PER_RUN = 500;
const TIMELINE_LIMIT = 500;
const CARRIED_TIMELINE = 100;
const SEEN_LIMIT = 2000;
const EVENT_LOG_LIMIT = 2000;
const RECEIVED_LIMIT = 200;

/** State carried across continue-as-new. New fields are optional: older runs carried without them. */
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
  /** Events received (type, time; id since event counts come from the events table): eventCount conditions. */
  eventLog: Array<{ type: string; at: number; id?: string }>;
  /** The trigger event, or the event that ended the last wait_for: `event.*` in conditions. */
  event: EnrollmentEvent | null;
  steps: Record<string, Record<string, unknown>>;
  visits: Record<string, number>;
  previousAt: number;
  timeline: TimelineEntry[];
  runs: number;
  /** Events received and not yet consumed, in arrival order (a wait_for counts those after `markerSeq`). */
  received?: Array<{ seq: number; event: EnrollmentEvent }>;
  receivedSeq?: number;
  /** Events after this one count for the next wait_for: the previous step's start. */
  markerSeq?: number;
  /** Set when the run continued as new in the middle of a step's wait: the step to pick up and its times. */
  resume?: ResumePoint;
}

/** Where a walk stands while it waits: before a step (until `due`), or inside a wait/wait_for started at `startAt`. */
export interface ResumePoint {
  stepId: string;
  visit: number;
  due: number;
  startAt?: number;
  startSeq?: number;
}

export interface EnrollmentResult {
  status: EnrollmentStatus;
  exitReason: string | null;
  converted: boolean;
}

/**
 * An activity's outcome as the driver saw it: a value, the failure after its retries, or
 * `cancelled` when the driver cancelled it because the enrollment is exiting.
 */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown; message: string; cancelled?: boolean };

export type Command =
  /** Publish the search attributes (status, current step) if they changed. */
  | { kind: 'publish' }
  /** Publish the search attributes, then record progress (the recordProgress activity). */
  | { kind: 'progress'; update: ProgressUpdate }
  /** Sleep until `until` (forever when null) or until `wake()` holds; reply true when woken. */
  | { kind: 'sleep'; until: number | null; wake: () => boolean }
  | { kind: 'sendMessage'; request: SendMessageRequest }
  | { kind: 'createTask'; request: CreateTaskRequest }
  | { kind: 'updateRecord'; request: UpdateRecordRequest }
  | { kind: 'callWebhook'; request: CallWebhookRequest }
  | { kind: 'notifyOwner'; request: NotifyOwnerRequest }
  /** Count the record's events for eventCount leaves (the countEvents activity). */
  | { kind: 'countEvents'; request: CountEventsRequest }
  /** Continue as new with this state (the driver never replies). */
  | { kind: 'continueAsNew'; carry: CarriedState };

/** What each command's reply is. */
export interface Replies {
  publish: void;
  progress: Outcome<void>;
  sleep: boolean;
  sendMessage: Outcome<SendMessageResult>;
  createTask: Outcome<CreateTaskResult>;
  updateRecord: Outcome<UpdateRecordResult>;
  callWebhook: Outcome<WebhookOutcome>;
  notifyOwner: Outcome<NotifyOwnerResult>;
  countEvents: Outcome<CountEventsResult>;
  continueAsNew: never;
}
export type Reply = Replies[keyof Replies];
export type Walk = Generator<Command, EnrollmentResult, Reply>;

export interface InterpreterOptions {
  input: EnrollmentInput;
  carry?: CarriedState;
  workflowId: string;
  /** The current time in ms: workflow time, or the preview's simulated clock. */
  clock: () => number;
  /** Steps run before continuing as new even if the server does not suggest it (tests lower it). */
  stepsPerRun?: number;
  /** Whether the server suggests continuing as new (asked after each step). */
  continueAsNewSuggested?: () => boolean;
  /**
   * Whether the history is long enough to continue as new in the middle of a wait (the server
   * suggests it, or it passed the workflow's stated size): asked while waiting, so a long wait
   * that receives many signals keeps its history bounded.
   */
  historyFull?: () => boolean;
  /** Whether a change of command order applies to this run (Temporal's `patched()`); default: yes. */
  patched?: (id: string) => boolean;
  /** Whether an error the driver threw into the walk is the run being cancelled (from the client, the Web UI, the CLI). */
  isCancellation?: (err: unknown) => boolean;
  log?: (message: string, attrs: Record<string, unknown>) => void;
}

interface PendingExit {
  reason: string;
  notify?: Notify;
  converted: boolean;
  /** The event that ended it (a reply): what the owner's notification shows. */
  event?: EnrollmentEvent;
}

interface Received {
  seq: number;
  event: EnrollmentEvent;
}

/** How a step ended: its status, where the walk goes next and when it counts as finished. */
interface StepEnd {
  status: StepOutcome;
  next: string;
  /** When the step finished, for `after_previous` timing of the next step. */
  at: number;
  detail?: Record<string, unknown>;
  exit?: string;
}

// ---------------------------------------------------------------------------------------------
// Pure rules, exported for the tests and for whoever needs one of them alone.

/** The template of an email step for the record's A/B letter. */
export function chooseTemplate(step: StepOf<'email'>, variant: string): string | undefined {
  if (step.variants && step.variants.length > 0) {
    const index = Math.max(0, variantLetterOf(variant).charCodeAt(0) - 65) % step.variants.length;
    return step.variants[index]!.template;
  }
  return step.template;
}

export function variantLetterOf(variant: string | null | undefined): string {
  return (variant || 'A').toUpperCase();
}

/** When a step counts as having run: at its due time when on time, else when it actually ran. */
export function onTimeAt(due: number, now: number): number {
  return now - due > ON_TIME_TOLERANCE_MS ? now : due;
}

/**
 * When an event that ends a wait counts as having happened: when it occurred, but not before the
 * wait started nor after it was received (a backend's clock is not ours).
 */
export function eventAt(event: EnrollmentEvent, startedAt: number, receivedAt: number): number {
  const occurred = Date.parse(event.occurredAt);
  return Number.isNaN(occurred) ? receivedAt : Math.min(receivedAt, Math.max(startedAt, occurred));
}

/** The exit rules an event satisfies: `{ event }` rules and `{ goal: { event } }` rules. */
export function exitRulesForEvent(rules: readonly ExitRule[], e: EnrollmentEvent, holds: (c: Condition) => boolean): Array<{ rule: ExitRule; goal: boolean }> {
  const out: Array<{ rule: ExitRule; goal: boolean }> = [];
  for (const rule of rules) {
    if ('event' in rule && rule.event === e.type && (!rule.where || holds(rule.where))) out.push({ rule, goal: false });
    if ('goal' in rule && 'event' in rule.goal && rule.goal.event === e.type && (!rule.goal.where || holds(rule.goal.where))) out.push({ rule, goal: true });
  }
  return out;
}

/** The branch's next step: the first case that holds, else `otherwise`, else the fallthrough. */
export function chooseBranch(step: StepOf<'branch'>, holds: (c: Condition) => boolean, fallthrough: string): { case: number | 'otherwise'; next: string } {
  const index = step.cases.findIndex((c) => holds(c.when));
  return index >= 0 ? { case: index, next: step.cases[index]!.next } : { case: 'otherwise', next: step.otherwise ?? fallthrough };
}

/** Whether an event ends a `wait_for`. */
export function waitForMatches(step: StepOf<'wait_for'>, e: EnrollmentEvent, holds: (c: Condition) => boolean): boolean {
  return e.type === step.event && (!step.where || holds(step.where));
}

function tail<T>(xs: T[], n: number): T[] {
  return xs.length > n ? xs.slice(xs.length - n) : xs;
}

// ---------------------------------------------------------------------------------------------

export class EnrollmentInterpreter {
  private readonly input: EnrollmentInput;
  private readonly opts: InterpreterOptions;
  private readonly byId: Map<string, { step: Step; index: number }>;
  private readonly exitRules: ExitRule[];
  private readonly clock: () => number;
  private readonly seq: number;
  private readonly carried: boolean;

  private cursor: string;
  private status: EnrollmentStatus;
  private paused: boolean;
  /** The pause state the enrollments row last received: a pause or resume that arrives while a write is running is written after it. */
  private recordedPaused: boolean;
  private record: RecordSnapshot;
  private readonly changedFields: Set<string>;
  private readonly seenEventIds: Set<string>;
  private readonly seenChangeIds: Set<string>;
  private readonly ownChangeIds: Set<string>;
  private readonly eventLog: Array<{ type: string; at: number; id?: string }>;
  /** The definition's eventCount leaves. */
  private readonly countLeaves: CountLeaf[];
  /** The event types they count: the only ones the event log keeps (nothing else reads it). */
  private readonly countedTypes: ReadonlySet<string>;
  /** Whether they are counted in the events table (a run patched for it); before, only the events this enrollment saw counted. */
  private countsFromTable = false;
  /** The table's last answer: counts by leaf, the ids they include, when, and how much of the event log it covered. */
  private tableCounts: { at: number; counts: Map<string, number>; known: Set<string>; logLength: number } | undefined;
  private event: EnrollmentEvent | null;
  private readonly steps: Record<string, Record<string, unknown>>;
  private readonly visits: Record<string, number>;
  private previousAt: number;
  private readonly timeline: TimelineEntry[];
  private readonly runs: number;
  private pendingExit: PendingExit | null = null;
  private finalReason: string | null = null;
  private converted = false;
  private waitingDueAt: number | null = null;
  private readonly received: Received[];
  private receivedSeq: number;
  /** Events after this one count for the next wait_for (the previous step's start; 0: from the very start). */
  private markerSeq: number;
  /** Where the walk waits now (for a continue-as-new in the middle of a wait). */
  private at: ResumePoint | undefined;
  /** Where the previous run stopped in the middle of a wait. */
  private resume: ResumePoint | undefined;
  private continueInWaits = false;

  constructor(opts: InterpreterOptions) {
    const { input, carry } = opts;
    this.opts = opts;
    this.input = input;
    this.clock = opts.clock;
    this.byId = new Map(input.definition.steps.map((s, index) => [s.id, { step: s, index }]));
    this.exitRules = input.definition.exitWhen ?? [];
    this.seq = Number(/\/(\d+)$/.exec(opts.workflowId)?.[1] ?? 1);
    this.carried = carry !== undefined;
    this.cursor = carry?.cursor ?? input.definition.steps[0]!.id;
    this.status = carry?.status ?? 'active';
    this.paused = carry?.paused ?? false;
    this.recordedPaused = this.paused;
    this.record = carry?.record ?? input.record;
    this.changedFields = new Set(carry?.changedFields ?? []);
    this.seenEventIds = new Set(carry?.seenEventIds ?? (input.trigger ? [input.trigger.id] : []));
    this.seenChangeIds = new Set(carry?.seenChangeIds ?? []);
    this.ownChangeIds = new Set(carry?.ownChangeIds ?? []);
    this.eventLog = carry?.eventLog ?? (input.trigger ? [{ type: input.trigger.type, at: Date.parse(input.trigger.occurredAt), id: input.trigger.id }] : []);
    this.countLeaves = countLeavesOf(definitionConditions(input.definition));
    this.countedTypes = new Set(this.countLeaves.map((l) => l.event));
    this.event = carry?.event ?? input.trigger;
    this.steps = carry?.steps ?? {};
    this.visits = carry?.visits ?? {};
    this.previousAt = carry?.previousAt ?? Date.parse(input.startedAt);
    this.timeline = carry?.timeline ?? [];
    this.runs = (carry?.runs ?? 0) + 1;
    this.received = carry?.received ?? [];
    this.receivedSeq = carry?.receivedSeq ?? 0;
    // Runs carried before the marker was carried started counting afresh; a new enrollment counts
    // every event from its start, also those delivered with it (signal-with-start).
    this.markerSeq = carry?.markerSeq ?? this.receivedSeq;
    this.resume = carry?.resume;
  }

  private patched(id: string): boolean {
    return this.opts.patched?.(id) ?? true;
  }

  // ---- conditions

  /**
   * The record's events of a type (domain/event-counts.ts): the events table's last answer plus the
   * events signalled since that it did not include. Runs not patched for it (and a run before its
   * first answer) count the events this enrollment has seen: the trigger and every signalled event.
   */
  private eventCount = (type: string, within?: string): number => {
    const since = windowStart(this.clock(), within);
    const t = this.countsFromTable ? this.tableCounts : undefined;
    if (!t) return this.eventLog.filter((e) => e.type === type && e.at >= since).length;
    const later = this.eventLog.slice(t.logLength).filter((e) => e.type === type && e.at >= since && !(e.id !== undefined && t.known.has(e.id)));
    return (t.counts.get(leafKey(type, within)) ?? 0) + later.length;
  };

  /** Before conditions are read: counts the definition's eventCount leaves in the events table, unless counted at this very moment. */
  private *countEvents(conditions: Array<Condition | undefined>): Generator<Command, void, Reply> {
    if (!this.countsFromTable || this.tableCounts?.at === this.clock()) return;
    if (!conditions.some((c) => c !== undefined && countLeavesOf([c]).length > 0)) return;
    const at = this.clock();
    const types = new Set(this.countLeaves.map((l) => l.event));
    const signalled = this.eventLog.flatMap((e) => (e.id !== undefined && types.has(e.type) ? [{ id: e.id, type: e.type, at: iso(e.at) }] : []));
    const logLength = this.eventLog.length;
    const r = (yield {
      kind: 'countEvents',
      request: { workspaceId: this.input.workspaceId, recordId: this.input.record.externalId, at: iso(at), leaves: this.countLeaves, signalled },
    }) as Replies['countEvents'];
    if (!r.ok) throw r.error;
    this.tableCounts = {
      at,
      logLength,
      counts: new Map(this.countLeaves.map((l, i) => [leafKey(l.event, l.within), r.value.counts[i] ?? 0])),
      known: new Set(r.value.known),
    };
  }

  /** A condition read in the walk, its event counts fresh from the events table. */
  private *holdsCounted(cond: Condition): Generator<Command, boolean, Reply> {
    yield* this.countEvents([cond]);
    return this.holds(cond);
  }

  /** The conditions of goals reached by a condition (checked after each step). */
  private goalConditions(): Condition[] {
    return this.exitRules.flatMap((rule) => ('goal' in rule && 'when' in rule.goal ? [rule.goal.when] : []));
  }

  private holds(cond: Condition, ev: EnrollmentEvent | null = this.event): boolean {
    return evaluate(cond, { record: this.record, event: ev, steps: this.steps }, { eventCount: this.eventCount });
  }

  private requestExit(reason: string, rule?: { notify?: Notify }, isGoal = false, cause?: EnrollmentEvent): void {
    if (this.pendingExit || this.status === 'completed' || this.status === 'exited') return;
    this.pendingExit = { reason, converted: isGoal, ...(rule?.notify ? { notify: rule.notify } : {}), ...(cause ? { event: cause } : {}) };
  }

  private checkGoals(): void {
    for (const rule of this.exitRules) {
      if ('goal' in rule && 'when' in rule.goal && this.holds(rule.goal.when)) this.requestExit('goal', rule, true);
    }
  }

  // ---- signals

  onEvent(e: EnrollmentEvent): void {
    if (this.seenEventIds.has(e.id)) return;
    this.seenEventIds.add(e.id);
    // Events of a type no condition counts would only make every count slower and the carried log longer.
    if (this.countedTypes.has(e.type)) this.eventLog.push({ type: e.type, at: Date.parse(e.occurredAt) || this.clock(), id: e.id });
    this.received.push({ seq: ++this.receivedSeq, event: e });
    if (this.received.length > RECEIVED_LIMIT) this.received.splice(0, this.received.length - RECEIVED_LIMIT);
    for (const { rule, goal } of exitRulesForEvent(this.exitRules, e, (c) => this.holds(c, e))) {
      this.requestExit(goal ? 'goal' : `event:${e.type}`, rule, goal, e);
    }
    this.checkGoals();
  }

  onRecordChange(c: RecordChange): void {
    if (this.seenChangeIds.has(c.id)) return;
    this.seenChangeIds.add(c.id);
    const own = this.ownChangeIds.has(c.id);
    for (const [key, value] of Object.entries(c.changes)) {
      const before = readField(this.record, key);
      this.record = applyChanges(this.record, { [key]: value });
      if (own || sameValue(before, value)) continue;
      this.changedFields.add(normalizeKey(key));
      for (const rule of this.exitRules) {
        if ('fieldChanged' in rule && fieldMatches(rule.fieldChanged, key)) this.requestExit(`field_changed:${rule.fieldChanged}`, rule);
      }
    }
    this.checkGoals();
  }

  onPause(): void {
    if (this.status === 'active') {
      this.paused = true;
      this.status = 'paused';
    }
  }

  onResume(): void {
    if (this.status === 'paused') {
      this.paused = false;
      this.status = 'active';
    }
  }

  onExit(reason: string): void {
    this.requestExit(reason || 'manual');
  }

  /** Whether the enrollment is on its way out: a step's activity still waiting or retrying is no longer wanted. */
  exitRequested(): boolean {
    return this.pendingExit !== null;
  }

  // ---- what the outside sees

  state(): EnrollmentState {
    const step = this.byId.get(this.cursor)?.step;
    const live = this.status === 'active' || this.status === 'paused';
    const waiting: TimelineEntry[] =
      step && live
        ? [{ stepId: step.id, type: step.type, status: 'waiting', dueAt: this.waitingDueAt === null ? null : iso(this.waitingDueAt), at: iso(this.clock()) }]
        : [];
    return { status: this.status, currentStep: live ? this.cursor : null, exitReason: this.finalReason, timeline: [...this.timeline, ...waiting] };
  }

  /** The record as the enrollment knows it now. */
  snapshot(): RecordSnapshot {
    return this.record;
  }

  /** The values of the EnrollmentStatus and CurrentStep search attributes. */
  searchAttributes(): { status: EnrollmentStatus; currentStep: string | null } {
    return { status: this.status, currentStep: this.status === 'active' || this.status === 'paused' ? this.cursor : null };
  }

  // ---- the walk

  private get ref() {
    return {
      workspaceId: this.input.workspaceId,
      enrollmentId: this.input.enrollmentId,
      automationId: this.input.automationId,
      recordId: this.input.record.externalId,
    };
  }

  private context(): RenderContext {
    const i = this.input;
    return {
      record: this.record,
      event: this.event,
      enrollment: { id: i.enrollmentId, automationId: i.automationId, version: i.version, variant: i.variant || null },
    };
  }

  private timezone(): string {
    const settings = this.input.definition.settings ?? {};
    return recipientTimeZone({
      record: this.record.timezone,
      ...(settings.timezone ? { automation: settings.timezone } : {}),
      workspace: this.input.workspaceTimezone,
    });
  }

  private defaultNext(step: Step): string {
    return nextInList(this.input.definition.steps, this.byId.get(step.id)!.index);
  }

  private *progress(
    step?: { step: Step; visit: number; status: ProgressStep['status']; dueAt: number | null; detail?: Record<string, unknown> },
    ended?: boolean,
  ): Generator<Command, void, Reply> {
    const now = this.clock();
    const i = this.input;
    let entry: ProgressStep | undefined;
    if (step) {
      entry = {
        stepId: step.step.id,
        visit: step.visit,
        type: step.step.type,
        status: step.status,
        dueAt: step.dueAt === null ? null : iso(step.dueAt),
        at: iso(now),
        ...(step.detail ? { detail: step.detail } : {}),
      };
      const { visit: _visit, ...timelineEntry } = entry;
      this.timeline.push(timelineEntry);
      if (this.timeline.length > TIMELINE_LIMIT) this.timeline.splice(0, this.timeline.length - TIMELINE_LIMIT);
    }
    const update: ProgressUpdate = {
      ...this.ref,
      version: i.version,
      workflowId: this.opts.workflowId,
      seq: this.seq,
      variant: i.variant || null,
      triggerEventId: i.trigger?.id ?? null,
      startedAt: i.startedAt,
      status: this.status,
      currentStep: ended ? null : this.cursor,
      exitReason: this.finalReason,
      converted: this.converted,
      endedAt: ended ? iso(now) : null,
      ...(entry ? { step: entry } : {}),
    };
    const pausedNow = this.paused;
    const r = (yield { kind: 'progress', update }) as Replies['progress'];
    if (!r.ok) throw r.error;
    this.recordedPaused = pausedNow;
  }

  /** Waits until `until` (or forever when null); true when `wake` became true first. Records pause/resume as they happen. */
  private *waitUntil(until: number | null, wake: () => boolean): Generator<Command, boolean, Reply> {
    const historyFull = () => this.continueInWaits && this.at !== undefined && (this.opts.historyFull?.() ?? false);
    for (;;) {
      if (this.pendingExit || wake()) return true;
      if (this.paused !== this.recordedPaused && this.patched('record-pause-missed-during-write')) {
        yield* this.progress();
        continue;
      }
      if (historyFull()) yield { kind: 'continueAsNew', carry: this.carry() };
      const seenPaused = this.paused;
      if (until !== null && until - this.clock() <= 0) return false;
      const woke = (yield { kind: 'sleep', until, wake: () => this.pendingExit !== null || wake() || this.paused !== seenPaused || historyFull() }) as boolean;
      if (!woke) return false;
      if (this.paused !== seenPaused && !this.pendingExit) yield* this.progress();
    }
  }

  private *sendStep(step: StepOf<'email' | 'sms' | 'voicemail' | 'email_user'>, visit: number, dueAt: number): Generator<Command, StepEnd, Reply> {
    const variantLetter = variantLetterOf(this.input.variant);
    let templateId: string;
    if (step.type === 'email') {
      const chosen = chooseTemplate(step, variantLetter);
      if (!chosen) throw new DefinitionError(`email step ${step.id} has neither template nor variants`);
      templateId = chosen;
    } else templateId = step.template;
    const channel = step.type === 'email_user' ? 'email' : step.type;
    const variant = step.type === 'email' && step.variants ? variantLetter : null;
    const r = (yield {
      kind: 'sendMessage',
      request: {
        ...this.ref,
        idempotencyKey: `${this.input.enrollmentId}:${step.id}:${visit}`,
        stepId: step.id,
        channel,
        to: step.to ?? (step.type === 'email_user' ? 'owner' : 'record'),
        template: this.input.templates[templateId] ?? null,
        templateId,
        variant,
        from: step.from ?? null,
        context: this.context(),
        dueAt: iso(dueAt),
      },
    }) as Replies['sendMessage'];
    if (!r.ok && r.cancelled) return this.cutShort();
    if (!r.ok) {
      this.opts.log?.('send failed after retries', { stepId: step.id, error: r.message });
      this.steps[step.id] = { status: 'failed', error: r.message };
      return { status: 'failed', next: this.defaultNext(step), at: this.clock(), detail: { error: r.message, template: templateId } };
    }
    const result = r.value;
    this.steps[step.id] = { status: result.status, messageId: result.messageId, variant };
    return {
      status: result.status === 'failed' ? 'failed' : 'done',
      next: this.defaultNext(step),
      at: dueAt,
      detail: {
        messageId: result.messageId,
        messageStatus: result.status,
        template: templateId,
        ...(variant ? { variant } : {}),
        ...(result.error ? { error: result.error } : {}),
      },
    };
  }

  /** A step an exit ended before it finished: skipped, and the walk ends. */
  private cutShort(): StepEnd {
    return { status: 'skipped', next: END, at: this.clock(), ...(this.pendingExit ? { detail: { cutShortBy: this.pendingExit.reason } } : {}) };
  }

  private *runStep(step: Step, visit: number, dueAt: number, markerSeq: number): Generator<Command, StepEnd, Reply> {
    const key = `${this.input.enrollmentId}:${step.id}:${visit}`;
    switch (step.type) {
      case 'wait': {
        const end = stepDeadline(step, new Date(dueAt), this.timezone())!.getTime();
        yield* this.waitUntil(end, () => false);
        if (this.pendingExit && this.clock() < end) return this.cutShort();
        return { status: 'done', next: this.defaultNext(step), at: end };
      }
      case 'email':
      case 'sms':
      case 'voicemail':
      case 'email_user':
        return yield* this.sendStep(step, visit, dueAt);
      case 'task': {
        const due = stepDeadline(step, new Date(dueAt), this.timezone())?.toISOString() ?? null;
        const r = (yield {
          kind: 'createTask',
          request: {
            ...this.ref,
            idempotencyKey: key,
            stepId: step.id,
            assignee: step.assignee ?? 'owner',
            ownerId: this.record.ownerId,
            template: this.input.templates[step.template] ?? null,
            priority: step.priority ?? 'normal',
            dueAt: due,
            context: this.context(),
          },
        }) as Replies['createTask'];
        if (!r.ok && r.cancelled) return this.cutShort();
        if (!r.ok) throw r.error;
        this.steps[step.id] = { taskId: r.value.taskId, assigneeId: r.value.assigneeId };
        return {
          status: 'done',
          next: this.defaultNext(step),
          at: dueAt,
          detail: { taskId: r.value.taskId, assigneeId: r.value.assigneeId, priority: step.priority ?? 'normal' },
        };
      }
      case 'update_record': {
        this.ownChangeIds.add(key);
        const r = (yield { kind: 'updateRecord', request: { ...this.ref, changeId: key, set: step.set, at: iso(dueAt) } }) as Replies['updateRecord'];
        if (!r.ok && r.cancelled) return this.cutShort();
        if (!r.ok) throw r.error;
        this.record = applyChanges(this.record, r.value.changes);
        this.steps[step.id] = { changes: r.value.changes, found: r.value.found };
        return { status: 'done', next: this.defaultNext(step), at: dueAt, detail: { changes: r.value.changes } };
      }
      case 'webhook': {
        const r = (yield {
          kind: 'callWebhook',
          request: { ...this.ref, idempotencyKey: key, stepId: step.id, endpointId: step.endpoint, payload: step.payload ?? {}, context: this.context() },
        }) as Replies['callWebhook'];
        if (!r.ok && r.cancelled) return this.cutShort();
        const outcome: WebhookOutcome = r.ok ? r.value : { ok: false, status: null, error: r.message };
        this.steps[step.id] = { ...outcome };
        const next = outcome.ok ? this.defaultNext(step) : (step.onFailure ?? this.defaultNext(step));
        return { status: outcome.ok ? 'done' : 'failed', next, at: onTimeAt(dueAt, this.clock()), detail: { ...outcome } };
      }
      case 'wait_for': {
        const deadline = stepDeadline(step, new Date(dueAt), this.timezone())!.getTime();
        const match = this.waitForMatcher(step, markerSeq);
        const arrived = yield* this.waitUntil(deadline, () => match() !== undefined);
        const hit = match();
        if (arrived && hit) {
          this.event = hit.event;
          this.steps[step.id] = { received: true, eventId: hit.event.id };
          return {
            status: 'done',
            next: step.onEvent ?? this.defaultNext(step),
            at: eventAt(hit.event, dueAt, this.clock()),
            detail: { outcome: 'event', eventId: hit.event.id },
          };
        }
        if (this.pendingExit) return { status: 'skipped', next: END, at: this.clock() };
        this.steps[step.id] = { received: false };
        return { status: 'done', next: step.onTimeout ?? this.defaultNext(step), at: deadline, detail: { outcome: 'timeout' } };
      }
      case 'branch': {
        yield* this.countEvents(step.cases.map((c) => c.when));
        const chosen = chooseBranch(step, (c) => this.holds(c), this.defaultNext(step));
        this.steps[step.id] = { ...chosen };
        // A branch ends when it runs, so the next step's delay counts from the branch's due time;
        // runs without the patch end it when the previous step ended.
        const at = this.patched('branch-ends-when-it-runs') ? dueAt : this.previousAt;
        return { status: 'done', next: chosen.next, at, detail: { ...chosen } };
      }
      case 'exit':
        return { status: 'done', next: END, at: dueAt, exit: step.reason ?? `step:${step.id}` };
    }
  }

  /**
   * The first event received after `markerSeq` that ends a wait_for, asked after every signal while
   * the walk waits. It examines only the events received since it was last asked: an event that did
   * not match still does not, unless the record changed (a `where` may read it) or the `where`
   * counts events (counts move with every event and with time), and then it examines them all
   * again. So a wait's cost per signal does not grow with the events it already received.
   */
  private waitForMatcher(step: StepOf<'wait_for'>, markerSeq: number): () => Received | undefined {
    const recheckAll = step.where !== undefined && countLeavesOf([step.where]).length > 0;
    let record = this.record;
    /** Events up to this sequence number were examined and did not match. */
    let examined = markerSeq;
    let hit: Received | undefined;
    return () => {
      const oldest = this.received[0]?.seq ?? Infinity;
      if (recheckAll || this.record !== record || (hit && hit.seq < oldest)) {
        record = this.record;
        examined = markerSeq;
        hit = undefined;
      }
      if (hit) return hit;
      let i = this.received.length;
      while (i > 0 && this.received[i - 1]!.seq > examined) i--;
      for (; i < this.received.length; i++) {
        const r = this.received[i]!;
        if (waitForMatches(step, r.event, (c) => this.holds(c, r.event))) return (hit = r);
        examined = r.seq;
      }
      return undefined;
    };
  }

  private carry(): CarriedState {
    return {
      cursor: this.cursor,
      status: this.status,
      paused: this.paused,
      record: this.record,
      changedFields: [...this.changedFields],
      seenEventIds: tail([...this.seenEventIds], SEEN_LIMIT),
      seenChangeIds: tail([...this.seenChangeIds], SEEN_LIMIT),
      ownChangeIds: tail([...this.ownChangeIds], SEEN_LIMIT),
      eventLog: tail(this.eventLog, EVENT_LOG_LIMIT),
      event: this.event,
      steps: this.steps,
      visits: this.visits,
      previousAt: this.previousAt,
      timeline: tail(this.timeline, CARRIED_TIMELINE),
      runs: this.runs,
      received: this.received.filter((r) => r.seq > this.markerSeq),
      receivedSeq: this.receivedSeq,
      markerSeq: this.markerSeq,
      ...(this.at ? { resume: this.at } : {}),
    };
  }

  /** The walk: from the cursor to the end, an exit or the next continue-as-new. */
  *run(): Walk {
    const def = this.input.definition;
    const settings = def.settings ?? {};
    const stepsPerRun = this.opts.stepsPerRun ?? DEFAULT_STEPS_PER_RUN;
    const startedAtMs = Date.parse(this.input.startedAt);
    try {
      // A run that may continue as new in the middle of a wait (histories recorded before could not).
      this.continueInWaits = this.patched('continue-as-new-during-waits');
      // eventCount leaves count the record's events in the events table (runs recorded before counted only the events they saw).
      this.countsFromTable = this.countLeaves.length > 0 && this.patched('event-counts-from-table');
      yield { kind: 'publish' };
      if (!this.carried) yield* this.progress();
      let stepsThisRun = 0;

      while (this.cursor !== END && !this.pendingExit) {
        const entry = this.byId.get(this.cursor);
        if (!entry) throw new DefinitionError(`step ${this.cursor} is not in the definition`);
        const step = entry.step;
        const resume = this.resume?.stepId === step.id ? this.resume : undefined;
        this.resume = undefined;
        const visit = resume?.visit ?? (this.visits[step.id] ?? 0) + 1;
        this.visits[step.id] = visit;

        const due =
          resume?.due ??
          stepDueAt({
            step,
            settings,
            previousCompletedAt: new Date(this.previousAt),
            enrolledAt: new Date(startedAtMs),
            // Never before the previous step ran (after_start steps without a delay follow at once).
            now: new Date(Math.max(this.previousAt, this.clock() - ON_TIME_TOLERANCE_MS)),
            timeZone: this.timezone(),
            // The rules the enrollment started with, so a running one keeps its due times.
            timingRules: this.input.timingRules,
            ...(this.input.workspaceQuietHours ? { workspaceQuietHours: this.input.workspaceQuietHours } : {}),
          }).getTime();
        this.waitingDueAt = due;
        yield { kind: 'publish' };
        if (resume?.startAt === undefined) {
          this.at = { stepId: step.id, visit, due };
          yield* this.waitUntil(due, () => false);
          if (this.pendingExit) break;
          if (this.paused) {
            yield* this.waitUntil(null, () => !this.paused);
            if (this.pendingExit) break;
          }
        }
        const startAt = resume?.startAt ?? onTimeAt(due, this.clock());
        const startSeq = resume?.startSeq ?? this.receivedSeq;
        this.at = { stepId: step.id, visit, due, startAt, startSeq };
        this.waitingDueAt = null;

        let end: StepEnd;
        const skipped = (step.skipIfChanged ?? []).find((f) => [...this.changedFields].some((c) => fieldMatches(f, c)));
        if (skipped) {
          end = { status: 'skipped', next: this.defaultNext(step), at: startAt, detail: { reason: `field_changed:${skipped}` } };
        } else if (step.when && !(yield* this.holdsCounted(step.when))) {
          // `when` is read as the step falls due (docs/design.md §4.3).
          end = { status: 'skipped', next: this.defaultNext(step), at: startAt, detail: { reason: 'when' } };
        } else {
          // Events received from when the previous step started count for a wait_for (a rating
          // that arrives while the question is being sent is not lost); for a first step, from the start.
          end = yield* this.runStep(step, visit, startAt, step.type === 'wait_for' ? this.markerSeq : startSeq);
        }
        this.at = undefined;
        this.markerSeq = startSeq;
        this.previousAt = end.at;
        if (end.exit) this.requestExit(end.exit);
        yield* this.countEvents(this.goalConditions());
        this.checkGoals();
        this.cursor = this.pendingExit ? this.cursor : end.next;
        if (this.cursor === END && !this.pendingExit) this.status = 'completed';
        yield* this.progress({ step, visit, status: end.status, dueAt: due, ...(end.detail ? { detail: end.detail } : {}) }, this.cursor === END);

        stepsThisRun++;
        if (this.cursor !== END && !this.pendingExit && (stepsThisRun >= stepsPerRun || (this.opts.continueAsNewSuggested?.() ?? false))) {
          yield { kind: 'continueAsNew', carry: this.carry() };
        }
      }

      if (this.pendingExit) {
        const exit: PendingExit = this.pendingExit;
        this.status = 'exited';
        this.finalReason = exit.reason;
        this.converted = exit.converted;
        if (exit.notify) {
          const r = (yield {
            kind: 'notifyOwner',
            request: {
              ...this.ref,
              idempotencyKey: `${this.input.enrollmentId}:exit`,
              notify: exit.notify,
              ownerId: this.record.ownerId,
              reason: exit.reason,
              context: { ...this.context(), event: exit.event ?? this.event },
              at: iso(this.clock()),
            },
          }) as Replies['notifyOwner'];
          // The enrollment did exit (and convert): a notification that could not be delivered
          // changes neither, it is logged.
          if (!r.ok) this.opts.log?.('owner notification failed', { reason: exit.reason, error: r.message });
        }
        yield* this.progress(undefined, true);
      } else if (this.status !== 'completed') {
        this.status = 'completed';
        yield* this.progress(undefined, true);
      }
    } catch (err) {
      if (this.opts.isCancellation?.(err)) {
        // Cancelled from outside (the Web UI, the CLI, a client): the enrollment exits, and says why.
        this.status = 'exited';
        this.finalReason = 'cancelled';
        this.converted = false;
      } else {
        // Anything else (a definition the schema let through but the interpreter cannot run, a
        // non-retryable activity error) marks the enrollment failed, then fails the run.
        this.status = 'failed';
        this.finalReason = `error: ${err instanceof Error ? err.message : String(err)}`.slice(0, 500);
      }
      yield* this.progress(undefined, true);
      throw err;
    }
    return { status: this.status, exitReason: this.finalReason, converted: this.converted };
  }
}

/** A definition the interpreter cannot run (the validator should have refused it). */
export class DefinitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DefinitionError';
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
