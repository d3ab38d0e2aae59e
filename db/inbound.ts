/**
 * Inbound SMS and email: who sent it (the record), which of our messages it answers, and the
 * `message.replied` event, stored through the same ingest function as POST /v1/events so that
 * exit rules, wait_for steps and triggers see it like any other event.
 */
import { sql } from 'kysely';
import { inTransaction, type Db } from './connection';
import { ingestEvents } from './events';
import { newId } from './ids';
import { normalizeAddress } from './suppressions';
import { notify } from './notifications';
import { cursorAt, keysetPage, type Cursor } from './keyset';

export type InboundChannel = 'sms' | 'email';

export interface InboundInput {
  workspaceId: string;
  channel: InboundChannel;
  /** MessageSid, or the email's Message-ID: a replay of the same message is recognised by it. */
  providerId: string;
  from: string;
  to: string;
  /** The sender identities of the workspace that received it (their messages are the ones answered). */
  senderIds?: string[];
  text: string;
  keyword?: string | null;
  receivedAt: Date;
}

export interface InboundResult {
  id: string;
  /** False for a replay: nothing was stored and nothing should be done again. */
  created: boolean;
  recordId: string | null;
  messageId: string | null;
  eventId: string | null;
}

/** A workspace's sender identity that receives what is sent to its number or address. */
export interface Receiver {
  workspaceId: string;
  senderId: string;
}

/**
 * The SMS senders that receive at this number (or messaging service): the workspaces that own it.
 * A number registered in several workspaces goes first to the one that last texted `from` from it.
 */
export async function smsReceivers(db: Db, to: { number: string; messagingServiceSid?: string; from: string }): Promise<Receiver[]> {
  const rows = await db
    .selectFrom('senders as s')
    .select(['s.workspace_id as workspaceId', 's.id as senderId'])
    .where('s.channel', '=', 'sms')
    .where('s.deleted_at', 'is', null)
    .where((eb) => eb.or([eb('s.from', '=', to.number), ...(to.messagingServiceSid ? [eb('s.messaging_service_sid', '=', to.messagingServiceSid)] : [])]))
    .orderBy(
      (eb) =>
        eb
          .selectFrom('messages as m')
          .select((m) => m.fn.max('m.created_at').as('at'))
          .whereRef('m.workspace_id', '=', 's.workspace_id')
          .whereRef('m.sender_id', '=', 's.id')
          .where('m.to', '=', to.from),
      (ob) => ob.desc().nullsLast(),
    )
    .orderBy('s.created_at', 'desc')
    .execute();
  return rows;
}

/** The workspace's email senders whose address (from or reply-to) received this reply. */
export async function emailReceivers(db: Db, workspaceId: string, to: string): Promise<string[]> {
  const address = normalizeAddress('email', to);
  const rows = await db
    .selectFrom('senders')
    .select('id')
    .where('workspace_id', '=', workspaceId)
    .where('channel', '=', 'email')
    .where('deleted_at', 'is', null)
    .where((eb) => eb.or([eb(sql`lower("from")`, '=', address), eb(sql`lower(reply_to)`, '=', address)]))
    .execute();
  return rows.map((r) => r.id);
}

/**
 * The record behind a sender and the message being answered: among the workspace's records with
 * this address, the one most recently messaged at it from the sender identities that received the
 * reply (`senderIds`), else from any; a record never messaged when none was.
 */
export async function matchSender(
  db: Db,
  workspaceId: string,
  channel: InboundChannel,
  from: string,
  senderIds: string[] = [],
): Promise<{ recordId: string; messageId: string | null } | null> {
  const address = normalizeAddress(channel, from);
  const lastMessage = await db
    .selectFrom('messages')
    .innerJoin('records', (j) => j.onRef('records.workspace_id', '=', 'messages.workspace_id').onRef('records.external_id', '=', 'messages.record_id'))
    .select(['messages.id as messageId', 'messages.record_id as recordId'])
    .where('messages.workspace_id', '=', workspaceId)
    .where('messages.channel', 'in', channel === 'sms' ? ['sms', 'voicemail'] : ['email'])
    .where(channel === 'email' ? sql<boolean>`lower(messages."to") = ${address}` : sql<boolean>`messages."to" = ${address}`)
    .where(channel === 'email' ? sql<boolean>`lower(records.email) = ${address}` : sql<boolean>`records.phone = ${address}`)
    .$if(senderIds.length > 0, (q) => q.orderBy((eb) => eb('messages.sender_id', 'in', senderIds), 'desc'))
    .orderBy('messages.created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (lastMessage?.recordId) return { recordId: lastMessage.recordId, messageId: lastMessage.messageId };
  const record = await db
    .selectFrom('records')
    .select('external_id')
    .where('workspace_id', '=', workspaceId)
    .where(channel === 'email' ? sql<boolean>`lower(email) = ${address}` : sql<boolean>`phone = ${address}`)
    .orderBy('updated_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return record ? { recordId: record.external_id, messageId: null } : null;
}

/**
 * Stores an inbound message once (by provider id) and, when the sender is a known record and the
 * message is not a carrier keyword, a `message.replied` event for it.
 */
export async function receiveInbound(db: Db, input: InboundInput): Promise<InboundResult> {
  const id = newId('inb');
  const match = await matchSender(db, input.workspaceId, input.channel, input.from, input.senderIds);
  const eventId = match && !input.keyword ? `reply_${input.channel}_${input.providerId}` : null;
  // The inbound row, its event and its notification commit together: a provider's retry after a
  // crash finds either all of them or none.
  return inTransaction(db, async (trx) => {
    const inserted = await trx
      .insertInto('inbound_messages')
      .values({
        id,
        workspace_id: input.workspaceId,
        provider_id: input.providerId,
        channel: input.channel,
        from: input.from,
        to: input.to,
        text: input.text,
        record_id: match?.recordId ?? null,
        message_id: match?.messageId ?? null,
        event_id: eventId,
        keyword: input.keyword ?? null,
        received_at: input.receivedAt,
      })
      .onConflict((oc) => oc.columns(['workspace_id', 'channel', 'provider_id']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!inserted) {
      const existing = await trx
        .selectFrom('inbound_messages')
        .select(['id', 'record_id', 'message_id', 'event_id'])
        .where('workspace_id', '=', input.workspaceId)
        .where('channel', '=', input.channel)
        .where('provider_id', '=', input.providerId)
        .executeTakeFirstOrThrow();
      return { id: existing.id, created: false, recordId: existing.record_id, messageId: existing.message_id, eventId: existing.event_id };
    }
    if (match && eventId) {
      await ingestEvents(trx, input.workspaceId, [
        {
          id: eventId,
          type: 'message.replied',
          recordId: match.recordId,
          occurredAt: input.receivedAt.toISOString(),
          properties: { channel: input.channel, text: input.text, from: input.from, to: input.to, messageId: match.messageId },
        },
      ]);
      await notify(trx, input.workspaceId, {
        id: `message.replied:${eventId}`,
        type: 'message.replied',
        data: { recordId: match.recordId, channel: input.channel, text: input.text, from: input.from, to: input.to, messageId: match.messageId },
      });
    }
    return { id, created: true, recordId: match?.recordId ?? null, messageId: match?.messageId ?? null, eventId };
  });
}

/** Newest first by (received_at, id); `matched: false` keeps those from senders no record has. `limit + 1` rows. */
export async function listInboundMessages(db: Db, workspaceId: string, f: { channel?: InboundChannel; matched?: boolean; before?: Cursor; limit: number }) {
  let q = db.selectFrom('inbound_messages').selectAll().select(cursorAt('received_at').as('cursor_at')).where('workspace_id', '=', workspaceId);
  if (f.channel) q = q.where('channel', '=', f.channel);
  if (f.matched !== undefined) q = q.where('record_id', f.matched ? 'is not' : 'is', null);
  return keysetPage(q, { at: 'received_at', id: 'id', order: 'desc' }, f.before, f.limit + 1).execute();
}
