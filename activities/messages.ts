/**
 * Sends for email, sms, voicemail and email_user steps, exactly once as far as the provider can
 * tell us (docs/design.md §8.1):
 *
 *   1. Claim the outbox row keyed `<enrollmentId>:<stepId>:<visit>` (insert ON CONFLICT DO
 *      NOTHING), rendered and addressed, `queued`.
 *   2. Take it `queued` -> `sending` with this attempt's id and a lease (database time) in one
 *      conditional UPDATE: only one attempt can hold it, and only the holder calls the provider.
 *   3. The provider answers: `sent` (or `sandboxed`); a permanent refusal -> `failed` with its code;
 *      a transient one -> back to `queued` and retried (on the last attempt: `failed`, never left
 *      queued). Every write is conditioned on still holding the claim.
 *   4. No answer (timeout, reset, abort, the worker died): the provider may have the message. The
 *      row stays `sending`; a retry that finds the lease live does not call the provider. Once the
 *      lease has run out it first asks the provider where it can (Twilio lists its Messages and
 *      Calls: `DeliveryChannel.candidates`): exactly one match nobody else's row holds is ours ->
 *      `sent` with its id, no new request; none -> back to `queued` and sent. When the provider
 *      cannot be asked (SendGrid: no lookup without the paid Email Activity add-on) or cannot
 *      tell (several matches, the lookup failed), the retry waits for confirmation (a status
 *      callback moves the row on) for SEND_CONFIRM_GRACE_MS, then marks the message `uncertain`.
 *      It is never sent again: at most once is the default, because a second copy of a message
 *      reaches a person, a missing one can be seen and sent by hand.
 *
 * Before step 2 a send to a real provider waits for its turn under its rate limits (db/send-limits.ts:
 * the SMS sender's segments per second, the workspace's share of the provider), in order, across
 * every worker; one that would wait past its validity period (SEND_VALIDITY_MS) is `failed` as
 * `expired` instead. The wait is not an error: it never fails the send.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { sql } from 'kysely';
import { newId } from '#db/ids';
import { getRecord } from '#db/records';
import {
  claimQueuedMessage,
  insertMessageOnce,
  messageByKey,
  messageWithLease,
  providerIdsHeldElsewhere,
  unresolvedLookalikes,
  updateClaimedMessage,
  updateQueuedMessage,
} from '#db/messages';
import { releaseTurn, reserveSlot, takeTurn, type Turn } from '#db/send-limits';
import { MESSAGE_STATUSES, type MessageRow, type MessageStatus, type SenderRow } from '#db/schema';
import { firstSender, getSender } from '#db/senders';
import { getWorkspaceSettings } from '#db/settings';
import type { WorkspaceSettings } from '#domain/settings';
import { addSuppression, suppressionOf } from '#db/suppressions';
import {
  SEND_EXPIRED,
  SEND_HEARTBEAT_MS,
  SEND_INLINE_WAIT_MS,
  SEND_LEASE_MARGIN_MS,
  SEND_MAX_ATTEMPTS,
  SEND_START_TO_CLOSE_MS,
  SEND_WAKE_EARLY_MS,
  sendCategories,
  sendLimitsFor,
  type SendLimit,
} from '#domain/delivery';
import { statusesAfter } from '#domain/provider-events';
import { suppressionFor } from '#domain/suppression';
import { countSegments } from '#domain/sms-segments';
import { templateScope } from '#domain/templates';
import { missingTemplateError } from '#domain/enrollment';
import { unsubscribeUrl } from '#platform/unsubscribe-token';
import {
  AmbiguousDeliveryError,
  LOOKUP_CLOCK_SKEW_MS,
  PermanentDeliveryError,
  sandboxChannel,
  TransientDeliveryError,
  type DeliveryChannel,
  type OutboundMessage,
  type SenderIdentity,
} from '#providers/channel';
import type { ActivityDeps } from './deps';
import { workspaceChannel } from '#providers/registry';
import { resolveRecipient } from './recipients';
import { renderTemplate, sendScope, TemplateError } from './render';
import { messageNotification, notify } from '#db/notifications';
import type { SendMessageRequest, SendMessageResult } from '#domain/commands';

/** How often a send asks again for a limiter that another send's request in flight holds (ms). */
const IN_FLIGHT_POLL_MS = 100;

/** Statuses a retry returns as they are: the send is over. */
const SETTLED: ReadonlySet<MessageStatus> = new Set(MESSAGE_STATUSES.filter((s) => s !== 'queued' && s !== 'sending'));

function resultOf(row: MessageRow, duplicate: boolean): SendMessageResult {
  const status: SendMessageResult['status'] =
    row.status === 'delivered' || row.status === 'opened' || row.status === 'clicked' || row.status === 'bounced'
      ? 'sent'
      : row.status === 'sending'
        ? 'queued'
        : row.status;
  return { messageId: row.id, status, to: row.to || null, segments: row.segments, error: row.error, duplicate };
}

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called outside an activity (notifyOwner's own context is used then, or a test)
  }
}

const retry = (message: string, type: string, delayMs?: number) =>
  ApplicationFailure.create({ message, type, ...(delayMs !== undefined ? { nextRetryDelay: Math.max(1000, Math.ceil(delayMs)) } : {}) });

/** "4 h", "90 min", "30 s": a validity period as people write it. */
function spoken(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`;
}

const pause = (ms: number, ctx: Context | undefined) => (ctx ? ctx.sleep(ms) : new Promise<void>((r) => setTimeout(r, ms)));

function identity(s: SenderRow | undefined): SenderIdentity | null {
  return s ? { id: s.id, from: s.from, name: s.name, replyTo: s.reply_to, messagingServiceSid: s.messaging_service_sid } : null;
}

export function messageActivities(deps: ActivityDeps) {
  const { db, clock, channels, logger, delivery } = deps;

  /**
   * Writes the outcome of the attempt holding the claim (or, with `queued`, of a row nobody claimed
   * yet); a row claimed by someone else is left alone.
   */
  async function settle(
    id: string,
    holder: string | 'queued',
    patch: Partial<Pick<MessageRow, 'status' | 'provider_id' | 'error' | 'error_code' | 'sent_at' | 'segments' | 'attempt_id' | 'lease_until' | 'slot_at'>>,
  ) {
    // The outcome and its message.sent / message.failed notification commit together.
    return db.transaction().execute(async (trx) => {
      // A provider's status callback can overtake the answer to the send itself (a `delivered` applied
      // while the row is still `sending`): `sent` then leaves the later status alone.
      const status =
        patch.status === 'sent' ? sql<MessageStatus>`case when status in (${sql.join(statusesAfter('sent'))}) then status else 'sent' end` : patch.status;
      const write = { ...patch, ...(status !== undefined ? { status: status as never } : {}), updated_at: clock() };
      const row = holder === 'queued' ? await updateQueuedMessage(trx, id, write) : await updateClaimedMessage(trx, id, holder, write);
      const type = !row ? null : patch.status === 'failed' ? 'message.failed' : patch.status === 'sent' || patch.status === 'sandboxed' ? 'message.sent' : null;
      if (row && type) await notify(trx, row.workspace_id, { id: `${type}:${row.id}`, type, data: messageNotification(row) });
      return row;
    });
  }

  /** The step's sender, else the workspace default for the channel (/v1/settings), else its first sender of that channel. */
  async function senderFor(req: SendMessageRequest, settings: WorkspaceSettings | undefined): Promise<SenderRow | undefined> {
    if (req.from) return getSender(db, req.workspaceId, req.from);
    const chosen = settings?.defaultSenders[req.channel];
    return (chosen ? await getSender(db, req.workspaceId, chosen) : undefined) ?? firstSender(db, req.workspaceId, req.channel);
  }

  /** Renders, addresses and inserts the row (once); returns it with what the provider needs beyond the row. */
  async function prepare(req: SendMessageRequest, settings: WorkspaceSettings | undefined) {
    const live = req.recordId ? await getRecord(db, req.workspaceId, req.recordId) : undefined;
    const recipient = await resolveRecipient(db, req.workspaceId, req.to, req.channel, req.context.record, live);
    const suppression = recipient.address ? await suppressionOf(db, req.workspaceId, req.channel, recipient.address) : null;
    const suppressed = (recipient.isRecord && live?.unsubscribed?.[req.channel] === true) || suppression !== null;
    const sender = await senderFor(req, settings);
    const unsubscribe =
      recipient.isRecord && req.recordId
        ? unsubscribeUrl(
            { PUBLIC_URL: delivery.publicUrl, SECRETS_KEY: delivery.secretsKey },
            { workspaceId: req.workspaceId, recordId: req.recordId, channel: req.channel },
          )
        : null;

    let rendered: Record<string, string> = {};
    let dynamicTemplate: OutboundMessage['dynamicTemplate'] = null;
    let renderError: string | null = null;
    if (!req.template) renderError = missingTemplateError(req.templateId);
    else {
      try {
        const scope = await sendScope(db, req.workspaceId, req.context, { sender: identity(sender), unsubscribeUrl: unsubscribe });
        rendered = await renderTemplate(req.template, scope);
        // SendGrid renders the body from its own template, with the context our templates read.
        if (req.channel === 'email' && rendered.sendgridTemplateId) {
          dynamicTemplate = { id: rendered.sendgridTemplateId, data: { ...templateScope(scope), subject: rendered.subject ?? '' } };
        }
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
        renderError = err.message;
      }
    }
    const subject = rendered.subject ?? null;
    const text = rendered.text ?? rendered.body ?? null;
    const html = rendered.html ?? null;
    const body = req.channel === 'voicemail' ? (rendered.text ?? rendered.audioUrl ?? null) : (text ?? html);
    const sms = req.channel === 'sms' && body !== null ? countSegments(body) : null;

    const initial: { status: MessageStatus; error: string | null } = !recipient.address
      ? { status: 'failed', error: `no ${req.channel === 'email' ? 'email address' : 'phone number'} for the recipient` }
      : renderError
        ? { status: 'failed', error: renderError }
        : req.from && !sender
          ? { status: 'failed', error: `sender ${req.from} does not exist (or was deleted)` }
          : suppressed
            ? { status: 'suppressed', error: suppression ? `suppressed: ${suppression.reason}` : `recipient unsubscribed from ${req.channel}` }
            : { status: 'queued', error: null };

    const now = clock();
    // A send that fails before any attempt (no address, a template that does not render, a deleted
    // sender) is told like one the provider refused, in the same transaction; keyed by message, so
    // a retried activity queues nothing twice.
    const row = await db.transaction().execute(async (trx) => {
      const inserted = await insertMessageOnce(trx, {
        id: newId('msg'),
        workspace_id: req.workspaceId,
        idempotency_key: req.idempotencyKey,
        enrollment_id: req.enrollmentId,
        automation_id: req.automationId,
        step_id: req.stepId,
        record_id: req.recordId,
        test: req.test === true,
        channel: req.channel,
        to: recipient.address ?? '',
        variant: req.variant,
        template_id: req.templateId,
        template_version: req.template?.version ?? null,
        subject,
        body,
        segments: sms?.segments ?? null,
        encoding: sms?.encoding ?? null,
        sender_id: sender?.id ?? null,
        status: initial.status,
        error: initial.error,
        created_at: now,
        updated_at: now,
      });
      if (inserted.status === 'failed') {
        await notify(trx, inserted.workspace_id, { id: `message.failed:${inserted.id}`, type: 'message.failed', data: messageNotification(inserted) });
      }
      return inserted;
    });
    return { row, text, html, audioUrl: rendered.audioUrl ?? null, dynamicTemplate, sender: identity(sender), senderRow: sender, unsubscribe };
  }

  /**
   * Waits (heartbeating, cancellable) until the message's turn under its limits: reserves its slot
   * once (kept on the row across retries), then takes its turn. A wait longer than
   * SEND_INLINE_WAIT_MS ends this attempt; the retry wakes just before the slot. A limiter held by
   * another send's request in flight is asked again every IN_FLIGHT_POLL_MS: it frees at that
   * request's answer, usually long before its hold runs out.
   */
  async function awaitTurn(row: MessageRow, limits: SendLimit[], ctx: Context | undefined): Promise<Turn | { expiredAt: Date }> {
    const latest = new Date(row.created_at.getTime() + delivery.validityMs);
    const deadline = Date.now() + SEND_INLINE_WAIT_MS;
    let slotAt = row.slot_at;
    if (!slotAt) {
      const reserved = await reserveSlot(db, row.id, limits, latest);
      if ('wouldStartAt' in reserved) return { expiredAt: reserved.wouldStartAt };
      slotAt = reserved.slotAt;
    }
    for (;;) {
      const turn = await takeTurn(db, slotAt, limits, latest, delivery.requestTimeoutMs + SEND_LEASE_MARGIN_MS);
      if (turn === 'expired') return { expiredAt: new Date() };
      if ('held' in turn) return turn;
      const waitMs = turn.inFlight ? Math.min(turn.waitMs, IN_FLIGHT_POLL_MS) : turn.waitMs;
      if (Date.now() + waitMs > deadline) {
        throw retry(
          `waiting ${Math.ceil(turn.waitMs / 1000)} s for its turn under the send rate limits`,
          'AwaitingSendCapacity',
          turn.inFlight ? waitMs : turn.waitMs - SEND_WAKE_EARLY_MS,
        );
      }
      await pause(waitMs, ctx);
    }
  }

  /**
   * The unknown-send window closed by asking the provider which of its messages could be this one
   * (`candidates`), leaving out those another message's row already holds: exactly one -> ours,
   * `sent` with its id; none -> the provider does not have it, back to `queued` and sent by the
   * next attempt; several, or the lookup failed -> undefined (it cannot tell). One match while
   * another message just like this one (same recipient, sender and text) has an unknown outcome
   * too -> undefined: the match may be that one's, and taking it would have that one sent again.
   */
  async function askProvider(row: MessageRow, channel: DeliveryChannel, message: OutboundMessage): Promise<SendMessageResult | undefined> {
    if (!channel.candidates) return undefined;
    let found: string[];
    try {
      found = await channel.candidates(message, row.created_at);
    } catch (err) {
      logger.warn(
        { messageId: row.id, err: err instanceof Error ? err.message : String(err) },
        'could not ask the provider about a send whose answer was lost',
      );
      return undefined;
    }
    const held = await providerIdsHeldElsewhere(db, row.workspace_id, found, row.id);
    const ours = found.filter((sid) => !held.has(sid));
    if (ours.length > 1) {
      logger.warn({ messageId: row.id, candidates: ours }, 'the provider holds several messages that could be this one');
      return undefined;
    }
    if (ours.length === 1 && (await unresolvedLookalikes(db, row, new Date(row.created_at.getTime() - LOOKUP_CLOCK_SKEW_MS))) > 0) {
      logger.warn({ messageId: row.id, candidates: ours }, 'the provider holds a message that could be this one or another with an unknown outcome');
      return undefined;
    }
    if (ours.length === 1) {
      const done = await settle(row.id, row.attempt_id ?? '', {
        status: 'sent',
        provider_id: ours[0]!,
        sent_at: clock(),
        lease_until: null,
        error: null,
        error_code: null,
      });
      logger.info({ messageId: row.id, providerId: ours[0] }, 'send whose answer was lost: the provider has it');
      return resultOf(done ?? row, true);
    }
    await settle(row.id, row.attempt_id ?? '', {
      status: 'queued',
      attempt_id: null,
      lease_until: null,
      slot_at: null,
      error: `the ${channel.name} lookup found no earlier attempt whose answer was lost; sending it`,
    });
    logger.info({ messageId: row.id }, 'send whose answer was lost: the provider does not have it, sending it');
    throw retry('the provider does not have the earlier attempt: sending it', 'ResendAbsent', 1000);
  }

  /** The claim was not ours: someone holds it, or its holder vanished without an answer (then `lookup` asks the provider first). */
  async function claimedElsewhere(
    id: string,
    settings: WorkspaceSettings | undefined,
    lookup?: { channel: DeliveryChannel; message: OutboundMessage },
  ): Promise<SendMessageResult> {
    const row = await messageWithLease(db, id);
    if (row.status !== 'sending') {
      if (SETTLED.has(row.status)) return resultOf(row, true);
      throw retry('the message was released by another attempt', 'SendRace', 1000);
    }
    const leftMs = Number(row.lease_left_ms ?? 0);
    if (leftMs > 0)
      throw retry(`another attempt holds the send for ${Math.ceil(leftMs / 1000)} s more; the provider is not called twice`, 'SendInProgress', leftMs + 1000);
    const answered = lookup ? await askProvider(row, lookup.channel, lookup.message) : undefined;
    if (answered) return answered;
    const waitedMs = -leftMs;
    const attempt = activityContext()?.info.attempt ?? 1;
    if (waitedMs >= delivery.confirmGraceMs && attempt < SEND_MAX_ATTEMPTS) {
      if (settings?.deliveryGuarantee === 'at_least_once') {
        // The workspace chose a possible second copy over a possibly missing message: send again.
        await settle(row.id, row.attempt_id ?? '', {
          status: 'queued',
          attempt_id: null,
          lease_until: null,
          slot_at: null,
          error: `the provider never confirmed an earlier attempt within ${Math.round(delivery.confirmGraceMs / 1000)} s; sent again (at least once)`,
        });
        logger.warn({ messageId: row.id }, 'send outcome unknown: sending again (at least once)');
        throw retry('sending again a message whose earlier outcome is unknown (at least once)', 'ResendUnconfirmed', 1000);
      }
    }
    if (waitedMs >= delivery.confirmGraceMs || attempt >= SEND_MAX_ATTEMPTS) {
      const done = await settle(row.id, row.attempt_id ?? '', {
        status: 'uncertain',
        error: `the provider may have accepted this message but never confirmed it within ${Math.round(delivery.confirmGraceMs / 1000)} s; not sent again (at most once)`,
      });
      logger.warn({ messageId: row.id }, 'send outcome unknown: marked uncertain, not resent');
      return resultOf(done ?? row, true);
    }
    throw retry('waiting for the provider to confirm a send whose answer was lost', 'AwaitingConfirmation', delivery.confirmGraceMs - waitedMs + 500);
  }

  /** Takes the row `queued` -> `sending` and, holding it, calls the provider once. */
  async function claimAndSend(
    req: SendMessageRequest,
    prepared: Awaited<ReturnType<typeof prepare>>,
    settings: WorkspaceSettings | undefined,
    channel: DeliveryChannel,
    ctx: Context | undefined,
    turn: Turn,
  ): Promise<SendMessageResult> {
    const { row } = prepared;
    const message: OutboundMessage = {
      messageId: row.id,
      channel: req.channel,
      to: row.to,
      sender: prepared.sender,
      subject: row.subject,
      text: prepared.text,
      html: prepared.html,
      audioUrl: prepared.audioUrl,
      categories: sendCategories(req.automationId, req.stepId),
      unsubscribeUrl: req.channel === 'email' ? prepared.unsubscribe : null,
      dynamicTemplate: prepared.dynamicTemplate,
      ...(ctx ? { signal: ctx.cancellationSignal } : {}),
    };
    const attemptId = randomUUID();
    const claimed = await claimQueuedMessage(db, row.id, attemptId, (delivery.requestTimeoutMs + SEND_LEASE_MARGIN_MS) / 1000, clock());
    if (!claimed) return claimedElsewhere(row.id, settings, { channel, message });

    const lastAttempt = (ctx?.info.attempt ?? 1) >= SEND_MAX_ATTEMPTS;
    try {
      // The limiters it holds free from the provider's answer, not from our write after it.
      const receipt = await channel.send(message).finally(() => releaseTurn(db, turn));
      const done = await settle(row.id, attemptId, {
        status: receipt.status,
        provider_id: receipt.providerId,
        sent_at: clock(),
        lease_until: null,
        error: null,
        error_code: null,
        ...(receipt.segments ? { segments: receipt.segments } : {}),
      });
      return resultOf(done ?? claimed, false);
    } catch (err) {
      if (err instanceof PermanentDeliveryError) {
        logger.warn({ messageId: row.id, code: err.code, err: err.message }, 'message refused by the provider');
        const done = await settle(row.id, attemptId, { status: 'failed', error: err.message, error_code: err.code ?? null, lease_until: null });
        const suppression = suppressionFor({ kind: 'send_refused', channel: req.channel, code: err.code });
        if (suppression) await addSuppression(db, req.workspaceId, { channel: req.channel, address: row.to, ...suppression });
        return resultOf(done ?? claimed, false);
      }
      if (err instanceof TransientDeliveryError) {
        const done = await settle(
          row.id,
          attemptId,
          lastAttempt
            ? { status: 'failed', error: `${err.message} (gave up after ${SEND_MAX_ATTEMPTS} attempts)`, error_code: err.code ?? null, lease_until: null }
            : // Back in the queue: the retry reserves a new slot.
              { status: 'queued', error: err.message, error_code: err.code ?? null, attempt_id: null, lease_until: null, slot_at: null },
        );
        if (lastAttempt) return resultOf(done ?? claimed, false);
        throw retry(err.message, 'TransientDeliveryError', err.retryAfterMs);
      }
      if (err instanceof AmbiguousDeliveryError) {
        if (ctx?.cancellationSignal.aborted) {
          await settle(row.id, attemptId, { status: 'uncertain', error: `cancelled while the provider was being called: ${err.message}`, lease_until: null });
          throw new CancelledFailure('send cancelled');
        }
        // The lease ends now: the next attempt starts waiting for the provider's confirmation.
        await settle(row.id, attemptId, { error: err.message, lease_until: sql<Date>`now()` as never });
        throw retry(err.message, 'AmbiguousDeliveryError', delivery.confirmGraceMs + 500);
      }
      throw err;
    }
  }

  return {
    async sendMessage(req: SendMessageRequest): Promise<SendMessageResult> {
      const startedAt = Date.now();
      const existing = await messageByKey(db, req.idempotencyKey);
      if (existing && SETTLED.has(existing.status)) return resultOf(existing, true);
      // Read once for the whole send (sender, rate, delivery guarantee) and never kept: a change
      // through /v1/settings applies from the next send (or the next attempt of this one).
      const settings = await getWorkspaceSettings(db, req.workspaceId);
      const prepared = await prepare(req, settings);
      const { row } = prepared;
      if (row.status !== 'queued' && row.status !== 'sending') return resultOf(row, Boolean(existing));

      const ctx = activityContext();
      const heartbeat = ctx ? setInterval(() => ctx.heartbeat(), Math.floor(SEND_HEARTBEAT_MS / 3)) : undefined;
      try {
        const channel = (await workspaceChannel(db, delivery, req.workspaceId, req.channel)) ?? channels[req.channel];
        const provider = req.channel === 'email' ? 'sendgrid' : 'twilio';
        // Nothing leaves a sandbox: no limit to hold.
        const limits =
          channel === sandboxChannel
            ? []
            : sendLimitsFor({
                workspaceId: req.workspaceId,
                provider,
                // The workspace's own rate (PUT /v1/settings), else the service's.
                providerPerSecond: settings?.sendsPerSecond[provider] ?? delivery.providerPerSecond[provider],
                segments: row.segments,
                smsSender:
                  req.channel === 'sms' && prepared.senderRow
                    ? {
                        from: prepared.senderRow.from,
                        messagingServiceSid: prepared.senderRow.messaging_service_sid,
                        kind: prepared.senderRow.kind,
                        segmentsPerSecond: prepared.senderRow.segments_per_second,
                      }
                    : null,
              });
        let turn: Turn = { held: [] };
        if (row.status === 'queued' && limits.length > 0) {
          const taken = await awaitTurn(row, limits, ctx);
          if ('expiredAt' in taken) {
            const done = await settle(row.id, 'queued', {
              status: 'failed',
              error_code: SEND_EXPIRED,
              error: `expired: its turn under the send rate limits (${taken.expiredAt.toISOString()}) came after its validity period of ${spoken(delivery.validityMs)}; not sent`,
            });
            logger.warn({ messageId: row.id }, 'message expired waiting for send capacity');
            if (done) return resultOf(done, false);
            return claimedElsewhere(row.id, settings);
          }
          turn = taken;
        }
        try {
          // A provider call that could outlast the attempt's START_TO_CLOSE would be aborted by its timeout
          // and end `uncertain`: with too little time left (a long wait for the database under load), the
          // next attempt sends it instead.
          if (ctx && Date.now() - startedAt + delivery.requestTimeoutMs + SEND_LEASE_MARGIN_MS > SEND_START_TO_CLOSE_MS) {
            throw retry('too little time left in this attempt for the provider call; the next attempt sends it', 'SendTimeBudget', 1000);
          }
          return await claimAndSend(req, prepared, settings, channel, ctx, turn);
        } finally {
          // Also when the provider was never called (no time left, claimed elsewhere); a second release changes nothing.
          await releaseTurn(db, turn);
        }
      } finally {
        if (heartbeat) clearInterval(heartbeat);
      }
    },
  };
}
