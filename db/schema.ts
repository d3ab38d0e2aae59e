/** Row types of every table, as kysely sees them. Mirrors migrations/. */
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json<T> = ColumnType<T, string | T | undefined, string | T>;

export interface WorkspacesTable {
  id: string;
  name: string;
  timezone: Generated<string>;
  /** See domain/settings.ts for the shapes; each object is merged key by key on update. */
  channels: Generated<Json<Record<string, boolean>>>;
  quiet_hours: Generated<Json<Record<string, { start: string; end: string } | null>>>;
  default_senders: Generated<Json<Record<string, string | null>>>;
  sms_help_text: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: Timestamp;
}

export interface ApiKeysTable {
  id: string;
  workspace_id: string;
  name: string;
  prefix: string;
  key_hash: string;
  created_at: Timestamp;
  revoked_at: NullableTimestamp;
}

export interface UsersTable {
  workspace_id: string;
  id: string;
  name: string;
  email: string | null;
  phone: string | null;
  timezone: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type Unsubscribed = Partial<Record<'email' | 'sms' | 'voicemail', boolean>>;

export interface RecordsTable {
  workspace_id: string;
  external_id: string;
  email: string | null;
  phone: string | null;
  name: string | null;
  timezone: string | null;
  stage: string | null;
  owner_id: string | null;
  attributes: Json<Record<string, unknown>>;
  unsubscribed: Json<Unsubscribed>;
  stage_changed_at: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface EventsTable {
  seq: Generated<string>;
  workspace_id: string;
  id: string;
  type: string;
  record_id: string;
  occurred_at: Timestamp;
  received_at: Timestamp;
  properties: Json<Record<string, unknown>>;
}

export interface OutboxTable {
  id: Generated<string>;
  workspace_id: string;
  kind: string;
  record_id: string | null;
  payload: Json<Record<string, unknown>>;
  created_at: Timestamp;
  attempts: Generated<number>;
  available_at: Timestamp;
}

export type TemplateChannel = 'email' | 'sms' | 'voicemail' | 'task';

export interface TemplatesTable {
  workspace_id: string;
  id: string;
  name: string;
  channel: TemplateChannel;
  current_version: number;
  created_at: Timestamp;
  updated_at: Timestamp;
  deleted_at: NullableTimestamp;
}

export interface TemplateVersionsTable {
  workspace_id: string;
  template_id: string;
  version: number;
  content: Json<Record<string, unknown>>;
  created_at: Timestamp;
}

export type AutomationStatus = 'draft' | 'active' | 'paused' | 'inactive';

export interface AutomationsTable {
  workspace_id: string;
  id: string;
  name: string;
  status: Generated<AutomationStatus>;
  current_version: number;
  trigger_type: string;
  only_new: boolean | null;
  activated_at: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
  deleted_at: NullableTimestamp;
}

export interface AutomationVersionsTable {
  workspace_id: string;
  automation_id: string;
  version: number;
  definition: Json<Record<string, unknown>>;
  /** Template id -> version pinned when this automation version was written. */
  template_versions: Json<Record<string, number>>;
  created_at: Timestamp;
}

export type EnrollmentStatus = 'active' | 'paused' | 'completed' | 'exited' | 'failed';

export interface EnrollmentsTable {
  id: string;
  workspace_id: string;
  automation_id: string;
  version: number;
  record_id: string;
  seq: number;
  workflow_id: string;
  status: EnrollmentStatus;
  current_step: string | null;
  exit_reason: string | null;
  converted: Generated<boolean>;
  variant: string | null;
  trigger_event_id: string | null;
  started_at: Timestamp;
  ended_at: NullableTimestamp;
  updated_at: Timestamp;
}

export interface EnrollmentStepsTable {
  id: Generated<string>;
  enrollment_id: string;
  step_id: string;
  visit: Generated<number>;
  type: string;
  status: string;
  due_at: NullableTimestamp;
  at: Timestamp;
  detail: Json<Record<string, unknown>>;
}

export type MessageStatus = 'queued' | 'sent' | 'delivered' | 'opened' | 'clicked' | 'bounced' | 'failed' | 'sandboxed' | 'suppressed';

export interface MessagesTable {
  id: string;
  workspace_id: string;
  idempotency_key: string;
  enrollment_id: string | null;
  automation_id: string | null;
  step_id: string | null;
  record_id: string | null;
  channel: string;
  to: string;
  variant: string | null;
  template_id: string | null;
  template_version: number | null;
  subject: string | null;
  body: string | null;
  segments: number | null;
  provider_id: string | null;
  status: MessageStatus;
  error: string | null;
  created_at: Timestamp;
  sent_at: NullableTimestamp;
  updated_at: Timestamp;
}

export interface TasksTable {
  id: string;
  workspace_id: string;
  idempotency_key: string | null;
  enrollment_id: string | null;
  automation_id: string | null;
  step_id: string | null;
  record_id: string | null;
  assignee_id: string | null;
  title: string;
  body: string | null;
  priority: Generated<string>;
  status: Generated<string>;
  due_at: NullableTimestamp;
  created_at: Timestamp;
  completed_at: NullableTimestamp;
}

export interface WebhookEndpointsTable {
  id: string;
  workspace_id: string;
  url: string;
  secret: string;
  description: string | null;
  events: Json<string[]>;
  created_at: Timestamp;
  deleted_at: NullableTimestamp;
}

export interface Database {
  workspaces: WorkspacesTable;
  api_keys: ApiKeysTable;
  users: UsersTable;
  records: RecordsTable;
  events: EventsTable;
  outbox: OutboxTable;
  templates: TemplatesTable;
  template_versions: TemplateVersionsTable;
  automations: AutomationsTable;
  automation_versions: AutomationVersionsTable;
  enrollments: EnrollmentsTable;
  enrollment_steps: EnrollmentStepsTable;
  messages: MessagesTable;
  tasks: TasksTable;
  webhook_endpoints: WebhookEndpointsTable;
}

export type RecordRow = Selectable<RecordsTable>;
export type NewRecordRow = Insertable<RecordsTable>;
export type RecordUpdate = Updateable<RecordsTable>;
export type EnrollmentRow = Selectable<EnrollmentsTable>;
export type MessageRow = Selectable<MessagesTable>;
export type TaskRow = Selectable<TasksTable>;
export type AutomationRow = Selectable<AutomationsTable>;
