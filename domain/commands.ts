/**
 * Requests and results of the enrollment activities. Pure types: the workflow imports them (as
 * types only) together with `Activities` from ./index, so nothing here may pull in I/O.
 */
import type { Channel, Recipient, StaffRecipient, StepType } from './definition';
import type { EnrollmentStatus, RecordSnapshot, StepOutcome, TemplateSnapshot } from './enrollment';

/**
 * What the workflow knows for templates (`{{ record.name }}`, `{{ event.rating }}`,
 * `{{ enrollment.variant }}`); the activity adds owner, workspace, sender and unsubscribeUrl
 * (activities/render.ts `sendScope`).
 */
export interface RenderContext {
  record: RecordSnapshot;
  event: { id: string; type: string; occurredAt: string; properties: Record<string, unknown> } | null;
  /** null: a test send, which belongs to no enrollment. */
  enrollment: { id: string; automationId: string; version: number; variant: string | null } | null;
}

/** Identifies the enrollment an activity works for; every row it writes carries these. */
export interface EnrollmentRef {
  workspaceId: string;
  enrollmentId: string;
  automationId: string;
  recordId: string;
}

export interface ProgressStep {
  stepId: string;
  /** 1 for the first time the step runs in this enrollment, 2 for the second (loops), ... */
  visit: number;
  type: StepType;
  status: StepOutcome;
  dueAt: string | null;
  at: string;
  detail?: Record<string, unknown>;
}

export interface ProgressUpdate extends EnrollmentRef {
  version: number;
  workflowId: string;
  seq: number;
  variant: string | null;
  triggerEventId: string | null;
  startedAt: string;
  status: EnrollmentStatus;
  /** The step the enrollment waits for now (null once it ended). */
  currentStep: string | null;
  exitReason?: string | null;
  converted?: boolean;
  endedAt?: string | null;
  /** The step that just ran, written once per (enrollment, step, visit). */
  step?: ProgressStep;
}

export type MessageChannel = Channel;

/**
 * One message to send. A test send (POST /v1/templates/{id}/test-send) has no enrollment,
 * automation, step or (without a recordId) record: those are null, and so are its row's columns.
 */
export interface SendMessageRequest {
  workspaceId: string;
  enrollmentId: string | null;
  automationId: string | null;
  recordId: string | null;
  /** `<enrollmentId>:<stepId>:<visit>`: a retry finds the claimed row and does not send twice. */
  idempotencyKey: string;
  stepId: string | null;
  channel: MessageChannel;
  to: Recipient | StaffRecipient;
  /** The pinned template version (from the enrollment input), never the live template. */
  template: TemplateSnapshot | null;
  templateId: string;
  variant: string | null;
  /** The step's sender id; unset: the workspace's default sender for the channel. */
  from?: string | null;
  context: RenderContext;
  /** When the workflow scheduled the send (workflow time). */
  dueAt: string;
  /** A test send (POST /v1/templates/{id}/test-send): no enrollment, never counted in statistics. */
  test?: boolean;
}

export interface SendMessageResult {
  messageId: string;
  /** `queued`: still waiting (never returned once retries end); `uncertain`: see activities/messages.ts. */
  status: 'sent' | 'sandboxed' | 'suppressed' | 'failed' | 'queued' | 'uncertain' | 'cancelled';
  to: string | null;
  segments: number | null;
  error: string | null;
  /** True when this call found the row of an earlier attempt and did not send again. */
  duplicate: boolean;
}

export interface CreateTaskRequest extends EnrollmentRef {
  idempotencyKey: string;
  stepId: string | null;
  assignee: StaffRecipient;
  /** The record's owner as the workflow knows it (kept current by recordChanged signals). */
  ownerId: string | null;
  template: TemplateSnapshot | null;
  /** Used when no template is given (owner notifications). */
  fallback?: { title: string; body?: string };
  priority: 'low' | 'normal' | 'high' | 'urgent';
  dueAt: string | null;
  context: RenderContext;
}

export interface CreateTaskResult {
  taskId: string;
  assigneeId: string | null;
  title: string;
  created: boolean;
}

export interface UpdateRecordRequest extends EnrollmentRef {
  /** Outbox change id; the workflow ignores the recordChanged signal it causes itself. */
  changeId: string;
  set: Record<string, unknown>;
  at: string;
}

export interface UpdateRecordResult {
  /** Fields that actually changed, keyed like RecordChange (`stage`, `ownerId`, `attributes.plan`). */
  changes: Record<string, unknown>;
  found: boolean;
}

/**
 * `eventCount` leaves inside a running enrollment (branches, `when`, goals): the record's events in
 * the events table, and the events the enrollment was signalled that the table does not hold.
 */
export interface CountEventsRequest {
  workspaceId: string;
  recordId: string;
  /** Workflow time: a leaf's `within` window ends here. */
  at: string;
  leaves: Array<{ event: string; within?: string }>;
  /** Events of the leaves' types the enrollment was signalled (time: occurredAt). */
  signalled: Array<{ id: string; type: string; at: string }>;
}

export interface CountEventsResult {
  /** One per leaf, in order. */
  counts: number[];
  /** Event ids the counts include that a later signal may bring again: not to be counted twice. */
  known: string[];
}

export interface CallWebhookRequest extends EnrollmentRef {
  idempotencyKey: string;
  stepId: string;
  endpointId: string;
  payload: Record<string, unknown>;
  context: RenderContext;
}

export interface WebhookOutcome {
  ok: boolean;
  status: number | null;
  error: string | null;
}

export interface NotifyOwnerRequest extends EnrollmentRef {
  idempotencyKey: string;
  notify: 'owner' | { user: string };
  ownerId: string | null;
  /** `event:message.replied`, `field_changed:stage`, `goal`, ... */
  reason: string;
  context: RenderContext;
  at: string;
}

export interface NotifyOwnerResult {
  taskId: string | null;
  messageId: string | null;
  assigneeId: string | null;
}

/** The sweep workflow's activities (engine/sweeper.ts implements them; docs/design.md §6.7). */
export interface SweepRequest {
  workspaceId: string;
  automationId: string;
  /** The sweep's moment (ISO): occurrences up to it are due. */
  now: string;
}

export interface SweepOutcome {
  automationId: string;
  /** The span swept, (from, to]; from null: every occurrence up to `to` (an inactivity backfill). */
  from: string | null;
  to: string;
  /** Occurrences due in the span, and the enrollments they started (the rest: already enrolled, re-entry, conditions). */
  due: number;
  started: number;
}

export interface SweepActivities {
  /** The automations a workspace's sweep serves now. */
  sweepTargets(req: { workspaceId: string }): Promise<string[]>;
  sweepAutomation(req: SweepRequest): Promise<SweepOutcome>;
}
