/**
 * The ordered outbox consumer that the router (the `outbox` table) and the notifier (webhook
 * deliveries) run on. It claims and handles a batch (the claim is the caller's: a row lock held
 * for the batch's transaction, or a lease), then goes on at once while more is due, else sleeps
 * until its poll interval passes or a NOTIFY on its channel comes (listener.ts: reopened with
 * backoff when lost; wakeup.ts: a NOTIFY during a batch is kept). A failing row is retried with
 * backoff until its attempts are spent, then parked in outbox_dead_letters (afterFailure); a key's
 * rows run in id order (inOrder).
 */
import type { Logger } from 'pino';
import { ReconnectingListener } from './listener';
import { Wakeup } from './wakeup';

export interface ConsumerOptions {
  /** Names the consumer in log lines ("router", "notifier"). */
  name: string;
  /** For the LISTEN connection. */
  databaseUrl: string;
  /** The NOTIFY channel its writers signal. */
  channel: string;
  /** The fallback poll, which also picks up rows that became due (retries). */
  pollMs: number;
  logger: Pick<Logger, 'warn' | 'error'>;
  /** Claims and handles one batch; true when more is due now (the loop does not sleep). */
  batch: () => Promise<boolean>;
}

export class OutboxConsumer {
  private loop: Promise<void> | undefined;
  private stopping = false;
  private readonly listener: ReconnectingListener;
  private readonly wakeup = new Wakeup();

  constructor(private readonly opts: ConsumerOptions) {
    this.listener = new ReconnectingListener({
      databaseUrl: opts.databaseUrl,
      channel: opts.channel,
      name: opts.name,
      logger: opts.logger,
      onNotify: () => this.wakeup.notify(),
    });
  }

  async start(): Promise<void> {
    this.stopping = false;
    await this.listener.start();
    this.loop = this.run();
  }

  /** Finishes the batch in hand, then stops. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.listener.stop();
    this.wakeup.notify();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let more = false;
      try {
        more = await this.opts.batch();
      } catch (err) {
        this.opts.logger.error({ err }, `${this.opts.name}: batch failed; retrying`);
      }
      if (this.stopping) break;
      if (more) continue;
      await this.wakeup.sleep(this.opts.pollMs);
    }
  }
}

export interface RetryPolicy {
  /** Failed attempts after which a row is parked. */
  maxAttempts: number;
  /** The delay before the next attempt after `failed` failed ones. */
  delayMs: (failed: number) => number;
  /** How long after `since` (afterFailure) a row may still be retried. */
  retryForMs?: number;
}

/** After `failed` failed attempts: the delay before the next one, or park the row (a dead letter). */
export function afterFailure(policy: RetryPolicy, failed: number, since?: Date): { park: true } | { park: false; delayMs: number } {
  const delayMs = policy.delayMs(failed);
  const late = policy.retryForMs !== undefined && since !== undefined && Date.now() + delayMs > since.getTime() + policy.retryForMs;
  return failed >= policy.maxAttempts || late ? { park: true } : { park: false, delayMs };
}

/** A row's outcome: `continue` is partly done (store its progress, come back); `skip` was left for later. */
export type RowResult = { status: 'done' } | { status: 'retry'; error: string } | { status: 'continue'; payload: Record<string, unknown> } | { status: 'skip' };

/**
 * Runs one key's rows one after the other in id order; a row that is not done (failed, or partly
 * done) holds back the key's later rows, and so does an earlier row of the key this batch does not
 * hold (`firstHeld`: waiting for a retry, or in another consumer's batch).
 */
export async function inOrder<R extends { id: number }>(
  rows: R[],
  firstHeld: (row: R) => number | undefined,
  run: (row: R) => Promise<RowResult>,
  results: Map<number, RowResult>,
): Promise<void> {
  let blocked = false;
  for (const row of rows) {
    const first = firstHeld(row);
    if (blocked || (first !== undefined && first < row.id)) {
      blocked = true;
      results.set(row.id, { status: 'skip' });
      continue;
    }
    const r = await run(row);
    results.set(row.id, r);
    if (r.status !== 'done') blocked = true;
  }
}
