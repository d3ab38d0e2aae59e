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

/** What every version of the input carries. */
interface InputBase {
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
}

/**
 * Version 1 (and inputs from before versioning, which carry no `v`): the timing rules and the
 * workspace's quiet hours were added as optional fields; absent they mean rules 1 and none.
 */
export interface EnrollmentInputV1 extends InputBase {
  v?: 1;
  timingRules?: TimingRules;
  workspaceQuietHours?: WorkspaceQuietHours;
}

/** Version 2: the timing rules and the workspace's quiet hours are always stated (null: none), never implied by absence. */
export interface EnrollmentInputV2 extends InputBase {
  v: 2;
  /** The timing rules (domain/timing.ts) this enrollment keeps for its whole run. */
  timingRules: TimingRules;
  /** The workspace's default quiet hours when the enrollment started. */
  workspaceQuietHours: WorkspaceQuietHours | null;
}

/**
 * The workflow's input, every version a running enrollment (or its history) may hold. A new field
 * may be added as optional to the current version; a field whose meaning or presence changes gets
 * a new version here and a case in `currentInput`. Starts send the newest (`EnrollmentInput`).
 */
export type VersionedEnrollmentInput = EnrollmentInputV1 | EnrollmentInputV2;
export type EnrollmentInput = EnrollmentInputV2;

/** Any version read as the newest: what the interpreter runs on. Throws on a version this code does not know (a newer deployment's input). */
export function currentInput(input: VersionedEnrollmentInput): EnrollmentInput {
  switch (input.v) {
    case undefined:
    case 1: {
      const { timingRules, workspaceQuietHours, ...base } = input;
      return { ...base, v: 2, timingRules: timingRules ?? 1, workspaceQuietHours: workspaceQuietHours ?? null };
    }
    case 2:
      return input;
    default:
      throw new UnsupportedInputVersion((input as { v: unknown }).v);
  }
}

export class UnsupportedInputVersion extends Error {
  constructor(readonly v: unknown) {
    super(`unsupported enrollment input version ${String(v)}`);
    this.name = 'UnsupportedInputVersion';
  }
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

/** An enrollment's status: in its row, its search attribute, its query and the API (one list). */
export const ENROLLMENT_STATUSES = ['active', 'paused', 'completed', 'exited', 'failed'] as const;
export type EnrollmentStatus = (typeof ENROLLMENT_STATUSES)[number];
/** The statuses an enrollment ends in. */
export type EndedStatus = Exclude<EnrollmentStatus, 'active' | 'paused'>;

/** A step visit: how it ended, or `waiting` for the step the enrollment waits on now. */
export type StepStatus = 'done' | 'skipped' | 'failed' | 'waiting';
/** How a step visit ended. */
export type StepOutcome = Exclude<StepStatus, 'waiting'>;

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
