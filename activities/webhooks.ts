/**
 * Outbound webhooks: an HMAC-SHA256-signed JSON POST to one of the workspace's endpoints. The
 * outcome is returned (not thrown) when retrying cannot help, so the workflow can branch on it
 * (`onFailure`); 408, 429, 5xx and network errors throw and are retried with backoff, honouring
 * Retry-After.
 *
 * Once per step visit: the attempt claims the call's row (db/webhook-calls.ts) before the request
 * and writes the outcome after it, so a retry whose predecessor got an answer (its completion was
 * lost: Temporal's store down, the worker killed after the answer) returns that answer without
 * calling again. Only an attempt that died between the request and writing its outcome leaves the
 * call open; the next attempt then calls again with the same Idempotency-Key, which the receiver
 * can deduplicate on.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import { getWebhookEndpoint } from '#db/webhook-endpoints';
import type { ActivityDeps } from './deps';
import { claimWebhookCall, settleWebhookCall } from '#db/webhook-calls';
import { WEBHOOK_REQUEST_TIMEOUT_MS, WEBHOOK_START_TO_CLOSE_MS } from '#domain/webhook-step';
import { RefusedAddressError } from '#platform/outbound-http';
import { signedPost } from '#platform/signed-post';
import type { WebhookEndpointRow } from '#db/webhook-endpoints';
import type { CallWebhookRequest, WebhookOutcome } from '#domain/commands';

function retryAfterMs(header: string | null, now: Date): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}

/** Time an attempt keeps for writing its outcome before its lease runs out. */
const SETTLE_MARGIN_MS = 2_000;

export function webhookActivities(deps: ActivityDeps) {
  const { db, clock, logger } = deps;

  /** One signed POST: the outcome when it is final, a retryable failure when it is not. */
  async function request(endpoint: WebhookEndpointRow, req: CallWebhookRequest): Promise<WebhookOutcome> {
    const now = clock();
    const body = JSON.stringify({
      id: req.idempotencyKey,
      type: 'automation.step',
      occurredAt: now.toISOString(),
      workspaceId: req.workspaceId,
      automationId: req.automationId,
      enrollmentId: req.enrollmentId,
      stepId: req.stepId,
      recordId: req.recordId,
      record: req.context.record,
      event: req.context.event,
      data: req.payload,
    });
    let res: Awaited<ReturnType<typeof signedPost>>;
    try {
      res = await signedPost(deps.fetch, {
        url: endpoint.url,
        secrets: endpoint,
        id: req.idempotencyKey,
        body,
        headers: { 'idempotency-key': req.idempotencyKey },
        timeoutMs: WEBHOOK_REQUEST_TIMEOUT_MS,
        now,
        readBytes: 0,
      });
    } catch (err) {
      // A non-public address is refused for good (WEBHOOK_ALLOW_PRIVATE): branchable, not retried.
      if (err instanceof RefusedAddressError) return { ok: false, status: null, error: err.message };
      throw ApplicationFailure.retryable(`webhook ${req.endpointId} unreachable: ${err instanceof Error ? err.message : String(err)}`, 'WebhookUnreachable');
    }
    if (res.ok) return { ok: true, status: res.status, error: null };
    if (res.status === 408 || res.status === 429 || res.status >= 500) {
      const delay = retryAfterMs(res.headers.get('retry-after'), now);
      throw ApplicationFailure.create({
        message: `webhook ${req.endpointId} answered ${res.status}`,
        type: 'WebhookTransient',
        ...(delay !== undefined ? { nextRetryDelay: delay } : {}),
      });
    }
    logger.warn({ endpointId: req.endpointId, status: res.status }, 'webhook refused');
    return { ok: false, status: res.status, error: `answered ${res.status}` };
  }

  return {
    async callWebhook(req: CallWebhookRequest): Promise<WebhookOutcome> {
      const endpoint = await getWebhookEndpoint(db, req.workspaceId, req.endpointId);
      if (!endpoint) return { ok: false, status: null, error: `webhook endpoint ${req.endpointId} not found` };

      const key = { workspaceId: req.workspaceId, idempotencyKey: req.idempotencyKey };
      const attemptId = randomUUID();
      const deadline = Date.now() + WEBHOOK_START_TO_CLOSE_MS - SETTLE_MARGIN_MS;
      const call = await claimWebhookCall(db, { ...key, endpointId: req.endpointId, attemptId, leaseMs: WEBHOOK_START_TO_CLOSE_MS });
      if (call.status === 'done') return { ok: call.ok === true, status: call.status_code, error: call.error };
      if (call.attempt_id !== attemptId) {
        // An earlier attempt is still calling (its completion raced this retry): ask again once its lease is over.
        const left = (call.lease_until?.getTime() ?? 0) - clock().getTime();
        throw ApplicationFailure.create({
          message: `webhook ${req.idempotencyKey} is being called by another attempt`,
          type: 'WebhookCallInProgress',
          nextRetryDelay: Math.max(1000, left),
        });
      }

      let outcome: WebhookOutcome;
      try {
        outcome = await request(endpoint, req);
      } catch (err) {
        // Not answered: the next attempt calls again (if this write fails, once the lease is over).
        await settleWebhookCall(db, { ...key, attemptId }, { status: 'pending' }).catch(() => undefined);
        throw err;
      }
      // The answer is written before the activity completes, retried while PostgreSQL restarts; if
      // it cannot be written in time, the outcome still reaches the workflow through Temporal.
      const done = { status: 'done', ok: outcome.ok, statusCode: outcome.status, error: outcome.error } as const;
      for (;;) {
        try {
          await settleWebhookCall(db, { ...key, attemptId }, done);
          break;
        } catch (err) {
          if (Date.now() + 500 >= deadline) {
            logger.warn({ key: req.idempotencyKey, err }, 'webhook outcome not recorded; a retry of this call would call again');
            break;
          }
          await sleep(500);
        }
      }
      return outcome;
    },
  };
}
