/** What a running enrollment knows: its input, the signals it takes and the state it reports. Pure. */
import type { AutomationDefinition, StepType } from './definition';
import type { WorkspaceQuietHours } from './settings';
import type { TimingRules } from './timing';

export interface TemplateSnapshot {
  id: string;
  version: number;
  channel: 'email' | 'sms' | 'voicemail' | 'task';
  /** email: subject, html, text; sms: body; voicemail: audioUrl or text; task: title, body. */
  content: Record<string, string>;
}

/** Why a send whose template the enrollment's automation version does not pin fails (activity and preview). */
export function missingTemplateError(templateId: string): string {
  return `template ${templateId} is not pinned by this automation version`;
}

export interface RecordSnapshot {
  externalId: string;
  email: string | null;
  phone: string | null;
  name: string | null;
  timezone: string | null;
  stage: string | null;
  ownerId: string | null;
  attributes: Record<string, unknown>;
}

export interface TriggerEvent {
  id: string;
  type: string;
  occurredAt: string;
  properties: Record<string, unknown>;
}

/** Versioned shape: a new field is optional, a changed meaning gets a new `v`. */
export interface EnrollmentInput {
  v: 1;
  enrollmentId: string;
  workspaceId: string;
  workspaceTimezone: string;
  automationId: string;
  version: number;
  /** The definition of the version the record entered with: a later edit never reaches this run. */
  definition: AutomationDefinition;
  /** The template versions pinned by that automation version, by template id. */
  templates: Record<string, TemplateSnapshot>;
  record: RecordSnapshot;
  trigger: TriggerEvent | null;
  /** A/B letter, fixed per record and automation. */
  variant: string;
  startedAt: string;
  /** The timing rules (domain/timing.ts) this enrollment keeps for its whole run; absent: 1. */
  timingRules?: TimingRules;
  /** The workspace's default quiet hours when the enrollment started; absent: none. */
  workspaceQuietHours?: WorkspaceQuietHours;
}

export interface EnrollmentEvent {
  id: string;
  type: string;
  occurredAt: string;
  properties: Record<string, unknown>;
}

export interface RecordChange {
  /** Outbox/event id: a workflow ignores a change it has already seen. */
  id: string;
  /** Changed fields with their new values: `stage`, `name`, `attributes.plan`, ... */
  changes: Record<string, unknown>;
  at: string;
}

export type EnrollmentStatus = 'active' | 'paused' | 'completed' | 'exited' | 'failed';

/** A step visit: how it ended, or `waiting` for the step the enrollment waits on now. */
export type StepStatus = 'done' | 'skipped' | 'failed' | 'waiting';

export interface TimelineEntry {
  stepId: string;
  type: StepType;
  status: StepStatus;
  dueAt: string | null;
  at: string;
  detail?: Record<string, unknown>;
}

export interface EnrollmentState {
  status: EnrollmentStatus;
  currentStep: string | null;
  exitReason: string | null;
  timeline: TimelineEntry[];
}
