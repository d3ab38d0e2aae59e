/**
 * Send rate limits held across every worker process (domain/delivery.ts names the limiters).
 * Each limiter is one `send_limits` row, locked (`SELECT ... FOR UPDATE`, in key order so two
 * sends never deadlock) while a send reserves its slot or takes its turn:
 *
 * - `reserveSlot`: the message queues behind every earlier reservation (`reserved_until`), so sends
 *   go out in the order they asked; a slot past the message's validity is not taken.
 * - `takeTurn`: at its slot, the send goes only when the limiter is free (`free_at`, set from the
 *   moment the previous send actually went): a send that was late (a busy worker) pushes the next
 *   one back instead of letting two go closer together than the limit allows. A slow limiter
 *   (SPACED_AT_PROVIDER_MIN_MS) is held while the send's request is in flight (`free_at` past the
 *   request's longest life) and `releaseTurn` frees it one interval after the answer: the gap is
 *   then kept where the provider counts it. A worker that dies mid-request holds the limiter until
 *   that request could no longer be alive.
 *
 * Times are PostgreSQL's clock (`clock_timestamp()`), the one clock every worker shares.
 */
import { sql } from 'kysely';
import { SPACED_AT_PROVIDER_MIN_MS, type SendLimit } from '#domain/delivery';
import type { Db } from './connection';

const intervalMs = (l: SendLimit) => (l.cost / l.perSecond) * 1000;
const spacedAtProvider = (l: SendLimit) => intervalMs(l) >= SPACED_AT_PROVIDER_MIN_MS;
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

/** A send's turn taken: the slow limiters it holds until `releaseTurn` (each `until` is the hold written to `free_at`). */
export interface Turn {
  held: Array<{ key: string; until: Date; intervalMs: number }>;
}

/**
 * The send's turn: a `Turn` when its slot has come and every limiter is free, taking the capacity
 * (each limiter is next free after the message's cost; a slow one also after `inFlightMs`, the
 * request's longest life, until released); otherwise how long to wait (ms) and whether a request
 * in flight holds it (then it frees when that request is answered, usually sooner), or `expired`
 * when the turn comes (or came) after `latest`.
 */
export async function takeTurn(
  db: Db,
  slotAt: Date,
  limits: readonly SendLimit[],
  latest: Date,
  inFlightMs: number,
): Promise<Turn | 'expired' | { waitMs: number; inFlight: boolean }> {
  return db.transaction().execute(async (trx) => {
    const { rows, now } = await lockLimits(trx, limits);
    const turn = latestOf([slotAt, ...rows.map((r) => r.free_at)]);
    if (latestOf([turn, now]) > latest) return 'expired';
    if (turn > now) {
      const inFlight = limits.some((l) => spacedAtProvider(l) && rows.some((r) => r.key === l.key && r.free_at.getTime() > now.getTime() + intervalMs(l)));
      return { waitMs: turn.getTime() - now.getTime(), inFlight };
    }
    const held: Turn['held'] = [];
    for (const l of limits) {
      const next = after(now, intervalMs(l));
      const freeAt = spacedAtProvider(l) ? after(next, inFlightMs) : next;
      if (spacedAtProvider(l)) held.push({ key: l.key, until: freeAt, intervalMs: intervalMs(l) });
      // A late send pushes the queue's end too, so new reservations account for the delay.
      await trx
        .updateTable('send_limits')
        .set({ free_at: freeAt, reserved_until: sql<Date>`greatest(reserved_until, ${next})` })
        .where('key', '=', l.key)
        .execute();
    }
    return { held };
  });
}

/** The send's request is over (answered, failed, or never made): each held limiter is free one interval from now. */
export async function releaseTurn(db: Db, turn: Turn): Promise<void> {
  for (const h of turn.held) {
    await db
      .updateTable('send_limits')
      .set({ free_at: sql<Date>`clock_timestamp() + make_interval(secs => ${h.intervalMs / 1000})` })
      .where('key', '=', h.key)
      // Still our hold (a worker that outlived it finds the limiter moved on and leaves it).
      .where('free_at', '=', h.until)
      .execute();
  }
}
