/**
 * Notifications to the backend's webhook endpoints (types: docs/design.md §9.1). `notify` is called inside
 * the transaction of the change it reports and writes one `webhook_deliveries` row per endpoint
 * that subscribes to the type: the outbox for notifications, so nothing is lost when a process
 * dies after the commit. The notifier (engine/notifier.ts) claims due rows with a lease,
 * and records every attempt.
 */
import { sql, type Selectable } from 'kysely';
import type { Db } from './connection';
import type { MessagesTable, TasksTable, WebhookDeliveriesTable, WebhookDeliveryAttemptsTable, WebhookEndpointsTable } from './schema';
import { cursorAt, keysetPage, type Cursor } from './keyset';

export const NOTIFICATION_TYPES = [
  'task.created',
  'task.updated',
  'record.updated',
  'enrollment.started',
  'enrollment.completed',
  'enrollment.exited',
  'enrollment.failed',
  'message.sent',
  'message.failed',
  'message.replied',
  'message.bounced',
  'suppression.created',
] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

export const NOTIFY_CHANNEL = 'followup_webhooks';

export interface Notification {
  /**
   * Derived from the cause (`task.created:<taskId>`), so a retried activity or a replayed provider
   * webhook queues nothing twice; receivers dedupe on it too.
   */
  id: string;
  type: NotificationType;
  data: Record<string, unknown>;
  occurredAt?: Date;
}

/** Queues the notification for every subscribed endpoint of the workspace (none: nothing written). */
export async function notify(db: Db, workspaceId: string, n: Notification): Promise<void> {
  const body = JSON.stringify({ id: n.id, type: n.type, occurredAt: (n.occurredAt ?? new Date()).toISOString(), workspaceId, data: n.data });
  const { rows } = await sql<{ id: string }>`
    insert into webhook_deliveries (id, workspace_id, endpoint_id, notification_id, type, body)
    select 'whd_' || replace(gen_random_uuid()::text, '-', ''), e.workspace_id, e.id, ${n.id}, ${n.type}, ${body}
    from webhook_endpoints e
    where e.workspace_id = ${workspaceId} and e.deleted_at is null and (e.events = '[]'::jsonb or e.events ? ${n.type})
    on conflict (endpoint_id, notification_id) do nothing
    returning id`.execute(db);
  if (rows.length > 0) await sql`select pg_notify(${NOTIFY_CHANNEL}, '')`.execute(db);
}

/** The `data` of task.created / task.updated. */
export function taskNotification(t: Selectable<TasksTable>): Record<string, unknown> {
  return {
    id: t.id,
    enrollmentId: t.enrollment_id,
    automationId: t.automation_id,
    stepId: t.step_id,
    recordId: t.record_id,
    assignee: t.assignee_id,
    title: t.title,
    body: t.body,
    priority: t.priority,
    status: t.status,
    dueAt: t.due_at ? new Date(t.due_at).toISOString() : null,
  };
}

/** The `data` of message.sent / message.failed / message.bounced. */
export function messageNotification(m: Selectable<MessagesTable>): Record<string, unknown> {
  return {
    id: m.id,
    enrollmentId: m.enrollment_id,
    automationId: m.automation_id,
    stepId: m.step_id,
    recordId: m.record_id,
    channel: m.channel,
    to: m.to,
    status: m.status,
    error: m.error,
  };
}

export type DeliveryRow = Selectable<WebhookDeliveriesTable>;
export type ClaimedDelivery = DeliveryRow &
  Pick<Selectable<WebhookEndpointsTable>, 'url' | 'secret' | 'previous_secret' | 'previous_secret_expires_at' | 'deleted_at'>;

/**
 * Takes up to `limit` due deliveries for `leaseMs`: nobody else takes them meanwhile, and a
 * process that dies holding them lets them go when the lease ends. Counts the attempt.
 */
export async function claimDueDeliveries(db: Db, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
  const { rows } = await sql<ClaimedDelivery>`
    with due as (
      select id from webhook_deliveries
      where status = 'pending' and next_attempt_at <= now() and (locked_until is null or locked_until < now())
      order by next_attempt_at limit ${limit} for update skip locked
    ), claimed as (
      update webhook_deliveries d set locked_until = now() + make_interval(secs => ${leaseMs / 1000}), attempts = d.attempts + 1
      from due where d.id = due.id returning d.*
    )
    select c.*, e.url, e.secret, e.previous_secret, e.previous_secret_expires_at, e.deleted_at
    from claimed c join webhook_endpoints e on e.id = c.endpoint_id`.execute(db);
  return rows;
}

export interface AttemptRecord {
  startedAt: Date;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  responseExcerpt: string | null;
}

/** A delivery that kept failing: failed, and parked in outbox_dead_letters with its last error (retried by the admin API). */
export interface Parked {
  status: 'failed';
  deadLetter: { lastError: string };
}

/**
 * Records the attempt and the delivery's new state: delivered, failed for good (an endpoint
 * deleted since), parked, or due again at `retryAt`.
 */
export async function finishAttempt(
  db: Db,
  d: ClaimedDelivery,
  attempt: AttemptRecord,
  next: { status: 'delivered' | 'failed' } | Parked | { retryAt: Date },
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('webhook_delivery_attempts')
      .values({
        workspace_id: d.workspace_id,
        delivery_id: d.id,
        attempt: d.attempts,
        started_at: attempt.startedAt,
        duration_ms: attempt.durationMs,
        status_code: attempt.statusCode,
        error: attempt.error,
        response_excerpt: attempt.responseExcerpt,
      })
      .execute();
    await trx
      .updateTable('webhook_deliveries')
      .set(
        'status' in next
          ? { status: next.status, locked_until: null, ...(next.status === 'delivered' ? { delivered_at: sql`now()` } : {}) }
          : { next_attempt_at: next.retryAt, locked_until: null },
      )
      .where('id', '=', d.id)
      .execute();
    if ('deadLetter' in next) {
      await trx
        .insertInto('outbox_dead_letters')
        .values({
          outbox_id: null,
          delivery_id: d.id,
          workspace_id: d.workspace_id,
          kind: 'webhook_delivery',
          record_id: null,
          payload: JSON.stringify({ deliveryId: d.id, endpointId: d.endpoint_id, notificationId: d.notification_id, type: d.type }),
          attempts: d.attempts - d.attempts_at_retry,
          last_error: next.deadLetter.lastError.slice(0, 2000),
          queued_at: d.retried_at ?? d.created_at,
        })
        .execute();
    }
  });
}

/** An operator's retry of a parked delivery: due now, with a fresh budget of attempts and a fresh day. */
export async function requeueDelivery(db: Db, id: string): Promise<void> {
  await db
    .updateTable('webhook_deliveries')
    .set((eb) => ({ status: 'pending', next_attempt_at: sql`now()`, locked_until: null, retried_at: sql`now()`, attempts_at_retry: eb.ref('attempts') }))
    .where('id', '=', id)
    .execute();
  await sql`select pg_notify(${NOTIFY_CHANNEL}, '')`.execute(db);
}

export type AttemptRow = Selectable<WebhookDeliveryAttemptsTable>;

/** An endpoint's deliveries, newest first by (created_at, id), each with its attempts; `limit + 1` rows. */
export async function listDeliveries(db: Db, workspaceId: string, endpointId: string, f: { before?: Cursor; limit: number }) {
  const q = db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .select(cursorAt('created_at').as('cursor_at'))
    .where('workspace_id', '=', workspaceId)
    .where('endpoint_id', '=', endpointId);
  const rows = await keysetPage(q, { at: 'created_at', id: 'id', order: 'desc' }, f.before, f.limit + 1).execute();
  const attempts =
    rows.length === 0
      ? []
      : await db
          .selectFrom('webhook_delivery_attempts')
          .selectAll()
          .where(
            'delivery_id',
            'in',
            rows.map((r) => r.id),
          )
          .orderBy('attempt')
          .execute();
  return rows.map((r) => ({ ...r, attemptRows: attempts.filter((a) => a.delivery_id === r.id) }));
}
