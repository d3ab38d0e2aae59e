/**
 * Delivers queued notifications (db/notifications.ts) to the backend's webhook endpoints: signed
 * like webhook steps (X-Followup-Signature, with a timestamp), through the public-address-only
 * HTTP client, every attempt recorded. A 2xx is delivered; anything else is retried with
 * exponential backoff (WEBHOOK_RETRY_BASE_MS doubling, at most an hour apart) for at most
 * WEBHOOK_MAX_ATTEMPTS attempts and a day after the notification was queued; then it is failed
 * and parked in outbox_dead_letters with its last error (counted in the worker's /metrics; the
 * admin API lists and retries it, with a fresh budget). Claims are leases: a worker killed mid-delivery
 * leaves the row to the next worker once the lease ends (at-least-once; receivers dedupe by the
 * notification id, sent as X-Followup-Id and the body's `id`). Runs on the ordered outbox consumer
 * (outbox-consumer.ts): woken by NOTIFY on NOTIFY_CHANNEL, polled every ROUTER_POLL_MS as the fallback.
 */
import type { Logger } from 'pino';
import type { Db } from '#db/connection';
import { claimDueDeliveries, finishAttempt, NOTIFY_CHANNEL, type ClaimedDelivery } from '#db/notifications';
import { signedPost } from '#platform/signed-post';
import { afterFailure, OutboxConsumer, type RetryPolicy } from './outbox-consumer';

export const RETRY_FOR_MS = 24 * 3600_000;
const MAX_RETRY_DELAY_MS = 3600_000;

export interface NotifierOptions {
  db: Db;
  databaseUrl: string;
  /** The public-address-only fetch (platform/outbound-http.ts). */
  fetch: typeof fetch;
  timeoutMs: number;
  retryBaseMs: number;
  pollMs: number;
  batchSize?: number;
  /** Attempts after which a failing delivery is parked (WEBHOOK_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** Counts parked deliveries (the worker's /metrics). */
  deadLettered?: { inc(): void };
  logger: Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;
}

/** Delay before attempt `attempts + 1`, after `attempts` failed ones. */
export function retryDelayMs(baseMs: number, attempts: number): number {
  return Math.min(MAX_RETRY_DELAY_MS, baseMs * 2 ** Math.max(0, attempts - 1));
}

export class Notifier {
  // NOTIFY makes delivery prompt; the poll is the fallback (and picks up due retries).
  private readonly consumer: OutboxConsumer;
  private readonly retry: RetryPolicy;

  constructor(private readonly opts: NotifierOptions) {
    this.retry = { maxAttempts: opts.maxAttempts, delayMs: (failed) => retryDelayMs(opts.retryBaseMs, failed), retryForMs: RETRY_FOR_MS };
    this.consumer = new OutboxConsumer({
      name: 'notifier',
      databaseUrl: opts.databaseUrl,
      channel: NOTIFY_CHANNEL,
      pollMs: opts.pollMs,
      logger: opts.logger,
      batch: async () => (await this.deliverDue()) > 0,
    });
  }

  start(): Promise<void> {
    return this.consumer.start();
  }

  /** Finishes the deliveries in hand, then stops. */
  stop(): Promise<void> {
    return this.consumer.stop();
  }

  /** One batch: claim, deliver concurrently, record. Returns the number claimed. */
  async deliverDue(): Promise<number> {
    const leaseMs = this.opts.timeoutMs + 5_000;
    const due = await claimDueDeliveries(this.opts.db, this.opts.batchSize ?? 20, leaseMs);
    await Promise.all(due.map((d) => this.deliver(d)));
    return due.length;
  }

  private async deliver(d: ClaimedDelivery): Promise<void> {
    const startedAt = new Date();
    if (d.deleted_at) {
      await finishAttempt(
        this.opts.db,
        d,
        { startedAt, durationMs: 0, statusCode: null, error: 'endpoint deleted', responseExcerpt: null },
        { status: 'failed' },
      );
      return;
    }
    let statusCode: number | null = null;
    let error: string | null;
    let excerpt: string | null = null;
    try {
      const res = await signedPost(this.opts.fetch, {
        url: d.url,
        secrets: d,
        id: d.notification_id,
        body: d.body,
        headers: { 'x-followup-event': d.type },
        timeoutMs: this.opts.timeoutMs,
        now: startedAt,
        readBytes: 1024,
      });
      statusCode = res.status;
      excerpt = res.excerpt;
      error = res.readError ?? (res.ok ? null : `answered ${res.status}`);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    const attempt = { startedAt, durationMs: Date.now() - startedAt.getTime(), statusCode, error, responseExcerpt: excerpt };
    if (!error) return finishAttempt(this.opts.db, d, attempt, { status: 'delivered' });
    // Counted from the operator's retry, if there was one: it gives a fresh budget.
    const attempts = d.attempts - d.attempts_at_retry;
    const next = afterFailure(this.retry, attempts, d.retried_at ?? d.created_at);
    if (!next.park) {
      this.opts.logger.warn({ deliveryId: d.id, endpointId: d.endpoint_id, attempt: attempts, error }, 'notification not delivered; will retry');
      return finishAttempt(this.opts.db, d, attempt, { retryAt: new Date(Date.now() + next.delayMs) });
    }
    await finishAttempt(this.opts.db, d, attempt, { status: 'failed', deadLetter: { lastError: error } });
    this.opts.deadLettered?.inc();
    this.opts.logger.error(
      { deliveryId: d.id, endpointId: d.endpoint_id, attempts, error },
      'notification failed too often; parked in outbox_dead_letters (POST /admin/dead-letters/{id}/retry sends it again)',
    );
  }
}
