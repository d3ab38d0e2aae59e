/**
 * Provider status events: appended to `message_events` (idempotent by dedupe key) and folded
 * into the message's current status, forward only (domain/provider-events.ts).
 */
import { sql } from 'kysely';
import { inTransaction, type Db } from './connection';
import type { MessageRow } from './schema';
import { messageNotification, notify } from './notifications';
import { nextStatus, statusOf, type ProviderEvent } from '#domain/provider-events';

export interface AppliedEvent {
  event: ProviderEvent;
  message: MessageRow;
}

export async function findMessage(db: Db, messageId: string): Promise<MessageRow | undefined> {
  return db.selectFrom('messages').selectAll().where('id', '=', messageId).executeTakeFirst();
}

/**
 * Stores the events that are new and moves their messages' statuses; returns only the new ones
 * (a replayed event returns nothing, so its side effects are not repeated). Events about unknown
 * messages, or messages outside `onlyWorkspaceId` when given, are skipped.
 */
export async function applyProviderEvents(db: Db, events: ProviderEvent[], onlyWorkspaceId?: string): Promise<AppliedEvent[]> {
  if (events.length === 0) return [];
  return inTransaction(db, async (trx) => {
    const applied: AppliedEvent[] = [];
    for (const event of events) {
      // Row lock: concurrent events of one message fold in one at a time.
      const message = await trx
        .selectFrom('messages')
        .selectAll()
        .where('id', '=', event.messageId)
        .$if(onlyWorkspaceId !== undefined, (q) => q.where('workspace_id', '=', onlyWorkspaceId!))
        .forUpdate()
        .executeTakeFirst();
      if (!message) continue;
      const inserted = await trx
        .insertInto('message_events')
        .values({
          workspace_id: message.workspace_id,
          message_id: message.id,
          dedupe_key: event.dedupeKey,
          provider: event.provider,
          type: event.type,
          url: event.url ?? null,
          bounce_type: event.bounceType ?? null,
          code: event.code ?? null,
          reason: event.reason ?? null,
          occurred_at: event.occurredAt,
          payload: JSON.stringify(event.payload),
        })
        .onConflict((oc) => oc.column('dedupe_key').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (!inserted) continue;
      const status = nextStatus(message.status, event.type);
      const failed = statusOf(event.type) === 'failed' || event.type === 'bounced';
      const error = failed && status !== message.status ? describeFailure(event) : message.error;
      const outcome =
        message.channel === 'voicemail' && ['voicemail_left', 'human_answered', 'no_answer', 'busy', 'failed'].includes(event.type)
          ? event.type
          : message.outcome;
      const updated = await trx
        .updateTable('messages')
        .set({ status, error, outcome, updated_at: sql`now()` })
        .where('id', '=', message.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      if (event.type === 'bounced') {
        await notify(trx, updated.workspace_id, {
          id: `message.bounced:${event.dedupeKey}`,
          type: 'message.bounced',
          data: { ...messageNotification(updated), bounceType: event.bounceType ?? null, code: event.code ?? null, reason: event.reason ?? null },
        });
      }
      applied.push({ event, message: updated });
    }
    return applied;
  });
}

function describeFailure(e: ProviderEvent): string {
  const what = e.type === 'bounced' ? `${e.bounceType ?? 'hard'} bounce` : e.type;
  const code = e.code ? ` (${e.code})` : '';
  return e.reason ? `${what}${code}: ${e.reason}` : `${what}${code}`;
}
