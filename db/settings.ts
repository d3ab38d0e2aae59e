/**
 * Workspace settings (domain/settings.ts has the shapes). Read by the API (/v1/settings, the
 * activation check), the Enroller (effective quiet hours in the enrollment input), delivery
 * (default senders) and inbound (SMS HELP text).
 */
import { sql } from 'kysely';
import type { Db } from './connection';
import type { WorkspaceSettings, WorkspaceSettingsUpdate } from '#domain/settings';

const COLUMNS = ['timezone', 'channels', 'quiet_hours', 'default_senders', 'sms_help_text', 'delivery_guarantee', 'sends_per_second'] as const;

type Row = {
  timezone: string;
  channels: unknown;
  quiet_hours: unknown;
  default_senders: unknown;
  sms_help_text: string | null;
  delivery_guarantee: WorkspaceSettings['deliveryGuarantee'];
  sends_per_second: unknown;
};

function toSettings(row: Row): WorkspaceSettings {
  return {
    timezone: row.timezone,
    channels: row.channels as WorkspaceSettings['channels'],
    quietHours: row.quiet_hours as WorkspaceSettings['quietHours'],
    defaultSenders: row.default_senders as WorkspaceSettings['defaultSenders'],
    smsHelpText: row.sms_help_text,
    deliveryGuarantee: row.delivery_guarantee,
    sendsPerSecond: row.sends_per_second as WorkspaceSettings['sendsPerSecond'],
  };
}

/** The workspace's settings, or undefined for an unknown workspace. */
export async function getWorkspaceSettings(db: Db, workspaceId: string): Promise<WorkspaceSettings | undefined> {
  const row = await db.selectFrom('workspaces').select(COLUMNS).where('id', '=', workspaceId).executeTakeFirst();
  return row && toSettings(row);
}

/**
 * Applies a partial update in one statement: a field left out keeps its value, and inside
 * `channels`, `quietHours` and `defaultSenders` a channel left out keeps its value too (jsonb `||`
 * merges key by key; an explicit null is stored as null). `sendsPerSecond` likewise per provider.
 */
export async function updateWorkspaceSettings(db: Db, workspaceId: string, patch: WorkspaceSettingsUpdate): Promise<WorkspaceSettings | undefined> {
  const merge = (column: 'channels' | 'quiet_hours' | 'default_senders' | 'sends_per_second', value: object | undefined) =>
    sql<never>`${sql.ref(column)} || ${JSON.stringify(value ?? {})}::jsonb`;
  const row = await db
    .updateTable('workspaces')
    .set({
      channels: merge('channels', patch.channels),
      quiet_hours: merge('quiet_hours', patch.quietHours),
      default_senders: merge('default_senders', patch.defaultSenders),
      sends_per_second: merge('sends_per_second', patch.sendsPerSecond),
      ...(patch.timezone !== undefined ? { timezone: patch.timezone } : {}),
      ...(patch.smsHelpText !== undefined ? { sms_help_text: patch.smsHelpText } : {}),
      ...(patch.deliveryGuarantee !== undefined ? { delivery_guarantee: patch.deliveryGuarantee } : {}),
    })
    .where('id', '=', workspaceId)
    .returning(COLUMNS)
    .executeTakeFirst();
  return row && toSettings(row);
}
