/**
 * The counts behind the statistics routes. One query per figure family, aggregated in PostgreSQL
 * (FILTER clauses over the indexed rows of one automation or one workspace), so the cost grows
 * with the rows in the window, never with a loop in the API.
 *
 * What a message counts as is decided here once:
 * - sent: the provider took it (or it was sandboxed: "a count of messages sent includes sandboxed
 *   sends"), whatever happened after;
 * - delivered / opened / clicked / bounced: the provider said so, as the current status (which only
 *   moves forward) or any event in its log (an `opened` that arrived before `delivered`);
 * - unsubscribed: the provider's unsubscribe event, or an opt-out of its address on its channel
 *   (the unsubscribe link, an SMS STOP) after it went out and before the next message to that address;
 * - replied: an inbound message answers it; failed: `failed` (expired sends among them); suppressed: never sent.
 * Test sends (`messages.test`) are never counted.
 */
import { sql, type RawBuilder } from 'kysely';
import type { Db } from './connection';

export interface Window {
  from: Date;
  to: Date;
}

export interface MessageCounts {
  sent: number;
  delivered: number;
  opened: number;
  clicked: number;
  bounced: number;
  unsubscribed: number;
  replied: number;
  failed: number;
  suppressed: number;
}

export interface EnrollmentCounts {
  active: number;
  paused: number;
  started: number;
  completed: number;
  exited: number;
  failed: number;
  converted: number;
}

const SENT_STATUSES = sql.raw(`('sent', 'delivered', 'opened', 'clicked', 'bounced', 'sandboxed')`);
const OPT_OUT_SOURCES = sql.raw(`('unsubscribe_link', 'sms_keyword')`);

function hasEvent(type: string): RawBuilder<boolean> {
  return sql<boolean>`exists (select 1 from message_events e where e.message_id = m.id and e.type = ${type})`;
}

/** The nine message figures as `count(*) filter (...)` columns over the alias `m`. */
const MESSAGE_FIGURES = sql`
  count(*) filter (where m.status in ${SENT_STATUSES})::int as sent,
  count(*) filter (where m.status in ('delivered', 'opened', 'clicked') or ${hasEvent('delivered')})::int as delivered,
  count(*) filter (where m.status in ('opened', 'clicked') or ${hasEvent('opened')})::int as opened,
  count(*) filter (where m.status = 'clicked' or ${hasEvent('clicked')})::int as clicked,
  count(*) filter (where m.status = 'bounced' or ${hasEvent('bounced')})::int as bounced,
  count(*) filter (where ${hasEvent('unsubscribed')} or exists (
    select 1 from suppressions s
     where s.workspace_id = m.workspace_id and s.channel = m.channel and s.address = m."to"
       and s.source in ${OPT_OUT_SOURCES} and s.created_at >= coalesce(m.sent_at, m.created_at)
       and not exists (
         select 1 from messages n
          where n.workspace_id = m.workspace_id and n.channel = m.channel and n."to" = m."to" and not n.test
            and n.sent_at > coalesce(m.sent_at, m.created_at) and n.sent_at <= s.created_at)))::int as unsubscribed,
  count(*) filter (where exists (select 1 from inbound_messages i where i.workspace_id = m.workspace_id and i.message_id = m.id))::int as replied,
  count(*) filter (where m.status = 'failed')::int as failed,
  count(*) filter (where m.status = 'suppressed')::int as suppressed`;

function messagesIn(workspaceId: string, w: Window, automationId: string | null) {
  return sql`messages m
    where m.workspace_id = ${workspaceId} and not m.test
      and m.created_at >= ${w.from} and m.created_at < ${w.to}
      ${automationId === null ? sql`and m.automation_id is not null` : sql`and m.automation_id = ${automationId}`}`;
}

type Grouped<K extends string> = MessageCounts & Record<K, string | null>;

/** Message figures of one automation per step and per A/B variant (messages created in the window). */
export async function automationMessageCounts(db: Db, workspaceId: string, automationId: string, w: Window) {
  const byStep = await sql<
    Grouped<'step_id'>
  >`select m.step_id, ${MESSAGE_FIGURES} from ${messagesIn(workspaceId, w, automationId)} group by m.step_id`.execute(db);
  const byVariant = await sql<
    Grouped<'variant'>
  >`select m.variant, ${MESSAGE_FIGURES} from ${messagesIn(workspaceId, w, automationId)} and m.variant is not null group by m.variant`.execute(db);
  return { byStep: byStep.rows, byVariant: byVariant.rows };
}

/** Message figures of every automation of a workspace, per channel (messages created in the window). */
export async function workspaceMessageCounts(db: Db, workspaceId: string, w: Window) {
  const { rows } = await sql<Grouped<'channel'>>`select m.channel, ${MESSAGE_FIGURES} from ${messagesIn(workspaceId, w, null)} group by m.channel`.execute(db);
  return rows;
}

/**
 * Enrollment figures, grouped by automation: `active` and `paused` are now; `started` counts starts
 * in the window; completed, exited, failed and converted count endings in the window.
 */
export async function enrollmentCounts(db: Db, workspaceId: string, w: Window, automationId?: string) {
  const inWindow = (column: 'started_at' | 'ended_at') => sql`e.${sql.ref(column)} >= ${w.from} and e.${sql.ref(column)} < ${w.to}`;
  const { rows } = await sql<EnrollmentCounts & { automation_id: string }>`
    select e.automation_id,
      count(*) filter (where e.status = 'active')::int as active,
      count(*) filter (where e.status = 'paused')::int as paused,
      count(*) filter (where ${inWindow('started_at')})::int as started,
      count(*) filter (where e.status = 'completed' and ${inWindow('ended_at')})::int as completed,
      count(*) filter (where e.status = 'exited' and ${inWindow('ended_at')})::int as exited,
      count(*) filter (where e.status = 'failed' and ${inWindow('ended_at')})::int as failed,
      count(*) filter (where e.converted and ${inWindow('ended_at')})::int as converted
    from enrollments e
    where e.workspace_id = ${workspaceId}
      ${automationId === undefined ? sql`` : sql`and e.automation_id = ${automationId}`}
      and (e.status in ('active', 'paused') or ${inWindow('started_at')} or ${inWindow('ended_at')})
    group by e.automation_id`.execute(db);
  return rows;
}

/** Exits of one automation in the window by reason (`event:reply.received`, `goal`, `manual`, ...). */
export async function exitReasons(db: Db, workspaceId: string, automationId: string, w: Window) {
  const { rows } = await sql<{ reason: string | null; count: number }>`
    select e.exit_reason as reason, count(*)::int as count from enrollments e
     where e.workspace_id = ${workspaceId} and e.automation_id = ${automationId} and e.status = 'exited'
       and e.ended_at >= ${w.from} and e.ended_at < ${w.to}
     group by e.exit_reason`.execute(db);
  return rows;
}

/** Where the running enrollments of one automation are now: per current step, waiting and paused. */
export async function enrollmentsByStep(db: Db, workspaceId: string, automationId: string) {
  const { rows } = await sql<{ step_id: string | null; waiting: number; paused: number }>`
    select e.current_step as step_id,
      count(*) filter (where e.status = 'active')::int as waiting,
      count(*) filter (where e.status = 'paused')::int as paused
    from enrollments e
    where e.workspace_id = ${workspaceId} and e.automation_id = ${automationId} and e.status in ('active', 'paused')
    group by e.current_step`.execute(db);
  return rows;
}

/** Name and status of the automations the workspace figures list (deleted ones included: their past counts). */
export async function automationLabels(db: Db, workspaceId: string, ids: string[]) {
  if (ids.length === 0) return [];
  return db.selectFrom('automations').select(['id', 'name', 'status']).where('workspace_id', '=', workspaceId).where('id', 'in', ids).execute();
}
