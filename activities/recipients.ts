/** Who a step addresses, resolved against the live rows (the record's contact data, staff). */
import type { Db } from '#db/connection';
import type { RecordRow } from '#db/schema';
import { getUser } from '#db/users';
import type { Recipient, StaffRecipient } from '#domain/definition';
import type { RecordSnapshot } from '#domain/enrollment';
import type { MessageChannel } from '#domain/commands';

export interface ResolvedRecipient {
  address: string | null;
  /** The record itself is addressed: its unsubscribes apply. */
  isRecord: boolean;
  userId: string | null;
}

/** The address for `to` on `channel`; the live record row wins over the workflow's snapshot. */
export async function resolveRecipient(
  db: Db,
  workspaceId: string,
  to: Recipient | StaffRecipient,
  channel: MessageChannel,
  snapshot: RecordSnapshot,
  live: RecordRow | undefined,
): Promise<ResolvedRecipient> {
  const field = channel === 'email' ? 'email' : 'phone';
  if (to === 'record') {
    return { address: (live ? live[field] : null) ?? snapshot[field] ?? null, isRecord: true, userId: null };
  }
  if (to === 'owner' || 'user' in to) {
    const userId = to === 'owner' ? (live?.owner_id ?? snapshot.ownerId) : to.user;
    if (!userId) return { address: null, isRecord: false, userId: null };
    const user = await getUser(db, workspaceId, userId);
    return { address: user?.[field] ?? null, isRecord: false, userId };
  }
  if ('email' in to) return { address: channel === 'email' ? to.email : null, isRecord: false, userId: null };
  return { address: channel === 'email' ? null : to.phone, isRecord: false, userId: null };
}
