/**
 * The router's work queue. Whoever changes something the router must act on writes an outbox row
 * in the same transaction as the change; the router drains it (FOR UPDATE SKIP LOCKED), woken by
 * NOTIFY on OUTBOX_CHANNEL, with a polling fallback.
 */
import { sql } from 'kysely';
import type { Db } from './connection';

export const OUTBOX_CHANNEL = 'followup_outbox';

export interface OutboxEvent {
  id: string;
  type: string;
  recordId: string;
  occurredAt: string;
  properties: Record<string, unknown>;
}

export type OutboxPayload =
  /** An event was stored: match `event` triggers, signal the record's running enrollments. */
  | { kind: 'event'; event: OutboxEvent }
  /** A record was created or changed: `stage_entered` / `segment_entered` triggers, `recordChanged` signals. */
  | { kind: 'record_changed'; changeId: string; recordId: string; created: boolean; changes: Record<string, unknown>; at: string }
  /** An automation became active with onlyNew=false: enroll every record that already matches. */
  | { kind: 'automation_backfill'; automationId: string }
  /** Fan a lifecycle change out to the automation's in-flight enrollments. */
  | { kind: 'automation_lifecycle'; automationId: string; action: 'pause' | 'resume' | 'cancel' };

export type OutboxKind = OutboxPayload['kind'];

function recordIdOf(p: OutboxPayload): string | null {
  if (p.kind === 'event') return p.event.recordId;
  if (p.kind === 'record_changed') return p.recordId;
  return null;
}

/** Call inside the transaction that makes the change; the NOTIFY is delivered at commit. */
export async function enqueue(db: Db, workspaceId: string, payloads: OutboxPayload[]): Promise<void> {
  if (payloads.length === 0) return;
  await db
    .insertInto('outbox')
    .values(payloads.map((p) => ({ workspace_id: workspaceId, kind: p.kind, record_id: recordIdOf(p), payload: JSON.stringify(p) })))
    .execute();
  await sql`select pg_notify(${OUTBOX_CHANNEL}, '')`.execute(db);
}
