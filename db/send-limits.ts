/**
 * Send rate limits held across every worker process (domain/delivery.ts names the limiters).
 * Each limiter is one `send_limits` row, locked (`SELECT ... FOR UPDATE`, in key order so two
 * sends never deadlock) while a send reserves its slot or takes its turn:
 *
 * - `reserveSlot`: the message queues behind every earlier reservation (`reserved_until`), so sends
 *   go out in the order they asked; a slot past the message's validity is not taken.
 * - `takeTurn`: at its slot, the send goes only when the limiter is free (`free_at`, set from the
 *   moment the previous send actually went): a send that was late (a busy worker) pushes the next
 *   one back instead of letting two go closer together than the limit allows.
 *
 * Times are PostgreSQL's clock (`clock_timestamp()`), the one clock every worker shares.
 */
import { sql } from 'kysely';
import type { SendLimit } from '../domain/delivery';
import type { Db } from './connection';

const intervalMs = (l: SendLimit) => (l.cost / l.perSecond) * 1000;
const after = (at: Date, ms: number) => new Date(at.getTime() + ms);

/** Locks the limiters' rows (created on first use) and reads the database clock. */
async function lockLimits(trx: Db, limits: readonly SendLimit[]) {
  const keys = [...new Set(limits.map((l) => l.key))].sort();
  await trx
    .insertInto('send_limits')
    .values(keys.map((key) => ({ key })))
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  const rows = await trx.selectFrom('send_limits').selectAll().where('key', 'in', keys).orderBy('key').forUpdate().execute();
  const { rows: clock } = await sql<{ now: Date }>`select clock_timestamp() as now`.execute(trx);
  return { rows, now: clock[0]!.now };
}

const latestOf = (dates: Date[]) => new Date(Math.max(...dates.map((d) => d.getTime())));

/**
 * Reserves the message's next send slot under every limiter: the end of the queue (or now), and
 * moves each queue's end on by the message's cost. Returns the slot and how long until it (ms),
 * or `wouldStartAt` (nothing reserved) when the slot falls after `latest`.
 */
export async function reserveSlot(
  db: Db,
  messageId: string,
  limits: readonly SendLimit[],
  latest: Date,
): Promise<{ slotAt: Date; waitMs: number } | { wouldStartAt: Date }> {
  return db.transaction().execute(async (trx) => {
    const { rows, now } = await lockLimits(trx, limits);
    const slotAt = latestOf([now, ...rows.map((r) => r.reserved_until)]);
    if (slotAt > latest) return { wouldStartAt: slotAt };
    for (const l of limits) {
      await trx
        .updateTable('send_limits')
        .set({ reserved_until: after(slotAt, intervalMs(l)) })
        .where('key', '=', l.key)
        .execute();
    }
    await trx.updateTable('messages').set({ slot_at: slotAt }).where('id', '=', messageId).execute();
    return { slotAt, waitMs: slotAt.getTime() - now.getTime() };
  });
}

/**
 * The send's turn: `go` when its slot has come and every limiter is free, taking the capacity
 * (each limiter is next free after the message's cost); otherwise how long to wait (ms), or
 * `expired` when the turn comes (or came) after `latest`.
 */
export async function takeTurn(db: Db, slotAt: Date, limits: readonly SendLimit[], latest: Date): Promise<'go' | 'expired' | { waitMs: number }> {
  return db.transaction().execute(async (trx) => {
    const { rows, now } = await lockLimits(trx, limits);
    const turn = latestOf([slotAt, ...rows.map((r) => r.free_at)]);
    if (latestOf([turn, now]) > latest) return 'expired';
    if (turn > now) return { waitMs: turn.getTime() - now.getTime() };
    for (const l of limits) {
      const freeAt = after(now, intervalMs(l));
      // A late send pushes the queue's end too, so new reservations account for the delay.
      await trx
        .updateTable('send_limits')
        .set({ free_at: freeAt, reserved_until: sql<Date>`greatest(reserved_until, ${freeAt})` })
        .where('key', '=', l.key)
        .execute();
    }
    return 'go';
  });
}
