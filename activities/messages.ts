/**
 * Sends for email, sms, voicemail and email_user steps. Claim first, then send: the messages row
 * keyed by `<enrollmentId>:<stepId>:<visit>` is inserted (ON CONFLICT DO NOTHING) before the
 * provider is called, so a retry after a crash finds the row and never sends a second time once
 * the first attempt recorded its outcome.
 */
import { ApplicationFailure } from '@temporalio/common';
import { newId } from '../db/ids';
import type { MessageRow } from '../db/schema';
import { PermanentDeliveryError, TransientDeliveryError } from './channels';
import type { ActivityDeps } from './deps';
import { loadRecord, resolveRecipient } from './recipients';
import { renderTemplate, TemplateError } from './render';
import { countSegments } from '../domain/sms-segments';
import { missingTemplateError } from '../domain/enrollment';
import { suppressionOf } from '../db/suppressions';
import type { SendMessageRequest, SendMessageResult } from './types';

function resultOf(row: MessageRow, duplicate: boolean): SendMessageResult {
  const status = row.status === 'sent' || row.status === 'sandboxed' || row.status === 'suppressed' || row.status === 'failed' ? row.status : row.status === 'queued' ? 'queued' : 'sent';
  return { messageId: row.id, status, to: row.to || null, segments: row.segments, error: row.error, duplicate };
}

export function messageActivities(deps: ActivityDeps) {
  const { db, clock, channels, logger } = deps;

  async function finish(id: string, patch: { status: MessageRow['status']; provider_id?: string | null; error?: string | null; sent_at?: Date | null }) {
    return db
      .updateTable('messages')
      .set({ ...patch, updated_at: clock() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  return {
    async sendMessage(req: SendMessageRequest): Promise<SendMessageResult> {
      const existing = await db.selectFrom('messages').selectAll().where('idempotency_key', '=', req.idempotencyKey).executeTakeFirst();
      if (existing && existing.status !== 'queued') return resultOf(existing, true);

      const live = await loadRecord(db, req.workspaceId, req.recordId);
      const recipient = await resolveRecipient(db, req.workspaceId, req.to, req.channel, req.context.record, live);
      // The suppression list (by address, any record) first; then the record's own flag.
      const listed = recipient.address ? await suppressionOf(db, req.workspaceId, req.channel, recipient.address) : null;
      const suppressed = listed ? `suppressed: ${listed.reason}` : recipient.isRecord && live?.unsubscribed?.[req.channel] === true ? `recipient unsubscribed from ${req.channel}` : null;

      let rendered: Record<string, string> = {};
      let renderError: string | null = null;
      if (!req.template) renderError = missingTemplateError(req.templateId);
      else {
        try {
          rendered = await renderTemplate(req.template, req.context);
        } catch (err) {
          if (!(err instanceof TemplateError)) throw err;
          renderError = err.message;
        }
      }
      const subject = rendered.subject ?? null;
      const text = rendered.text ?? rendered.body ?? null;
      const html = rendered.html ?? null;
      const body = req.channel === 'voicemail' ? (rendered.text ?? rendered.audioUrl ?? null) : (text ?? html);
      const segments = req.channel === 'sms' && body !== null ? countSegments(body).segments : null;

      const initial: { status: MessageRow['status']; error: string | null } = !recipient.address
        ? { status: 'failed', error: `no ${req.channel === 'email' ? 'email address' : 'phone number'} for the recipient` }
        : renderError
          ? { status: 'failed', error: renderError }
          : suppressed
            ? { status: 'suppressed', error: suppressed }
            : { status: 'queued', error: null };

      const now = clock();
      await db
        .insertInto('messages')
        .values({
          id: newId('msg'),
          workspace_id: req.workspaceId,
          idempotency_key: req.idempotencyKey,
          enrollment_id: req.enrollmentId,
          automation_id: req.automationId,
          step_id: req.stepId,
          record_id: req.recordId,
          channel: req.channel,
          to: recipient.address ?? '',
          variant: req.variant,
          template_id: req.templateId,
          template_version: req.template?.version ?? null,
          subject,
          body,
          segments,
          status: initial.status,
          error: initial.error,
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) => oc.column('idempotency_key').doNothing())
        .execute();
      const row = await db.selectFrom('messages').selectAll().where('idempotency_key', '=', req.idempotencyKey).executeTakeFirstOrThrow();
      if (row.status !== 'queued') return resultOf(row, Boolean(existing));

      try {
        const receipt = await channels[req.channel].send({
          channel: req.channel,
          to: row.to,
          subject: row.subject,
          text,
          html,
          audioUrl: rendered.audioUrl ?? null,
          idempotencyKey: req.idempotencyKey,
        });
        const done = await finish(row.id, { status: receipt.status, provider_id: receipt.providerId, sent_at: clock() });
        return resultOf(done, false);
      } catch (err) {
        if (err instanceof PermanentDeliveryError) {
          logger.warn({ messageId: row.id, err: err.message }, 'message refused by the provider');
          return resultOf(await finish(row.id, { status: 'failed', error: err.message }), false);
        }
        if (err instanceof TransientDeliveryError) {
          throw ApplicationFailure.create({
            message: err.message,
            type: 'TransientDeliveryError',
            ...(err.retryAfterMs !== undefined ? { nextRetryDelay: err.retryAfterMs } : {}),
          });
        }
        throw err;
      }
    },
  };
}
