import type { Migration } from 'kysely';
import * as initial from './2026-11-23T00-00-00_initial';
import * as ingestEventsFunction from './2026-11-23T01-00-00_ingest-events-function';
import * as outboxOrder from './2026-11-30T02-00-00_outbox-order';
import * as outboxDeadLetters from './2026-11-30T02-01-00_outbox-dead-letters';
import * as delivery from './2026-11-30T03-00-00_delivery';
import * as inbound from './2026-11-30T04-00-00_inbound';
import * as webhookDeliveries from './2026-11-30T04-10-00_webhook-deliveries';
import * as workspaceSettings from './2026-11-30T05-00-00_workspace-settings';
import * as recordLastEvents from './2026-11-30T05-01-00_record-last-events';
import * as webhookDeadLetters from './2026-12-01T02-00-00_webhook-dead-letters';
import * as sendLimits from './2026-12-01T03-00-00_send-limits';
import * as deliveryGuarantee from './2026-12-01T03-01-00_delivery-guarantee';
import * as inboundReceivers from './2026-12-01T04-00-00_inbound-receivers';
import * as workspaceRateLimit from './2026-12-01T06-00-00_workspace-rate-limit';
import * as webhookCalls from './2026-12-01T07-00-00_webhook-calls';
import * as statisticsIndexes from './2026-12-01T09-00-00_statistics-indexes';
import * as backfillCancel from './2026-12-02T06-00-00_backfill-cancel';
import * as workspaceSendsPerSecond from './2026-12-02T09-00-00_workspace-sends-per-second';
import * as outboxKeyIndex from './2026-12-03T04-00-00_outbox-key-index';

/** Listed explicitly, in order: a migration is never discovered by reading a folder. */
export const migrations: Record<string, Migration> = {
  '2026-11-23T00-00-00_initial': initial,
  '2026-11-23T01-00-00_ingest-events-function': ingestEventsFunction,
  '2026-11-30T02-00-00_outbox-order': outboxOrder,
  '2026-11-30T02-01-00_outbox-dead-letters': outboxDeadLetters,
  '2026-11-30T03-00-00_delivery': delivery,
  '2026-11-30T04-00-00_inbound': inbound,
  '2026-11-30T04-10-00_webhook-deliveries': webhookDeliveries,
  '2026-11-30T05-00-00_workspace-settings': workspaceSettings,
  '2026-11-30T05-01-00_record-last-events': recordLastEvents,
  '2026-12-01T02-00-00_webhook-dead-letters': webhookDeadLetters,
  '2026-12-01T03-00-00_send-limits': sendLimits,
  '2026-12-01T03-01-00_delivery-guarantee': deliveryGuarantee,
  '2026-12-01T04-00-00_inbound-receivers': inboundReceivers,
  '2026-12-01T06-00-00_workspace-rate-limit': workspaceRateLimit,
  '2026-12-01T07-00-00_webhook-calls': webhookCalls,
  '2026-12-01T09-00-00_statistics-indexes': statisticsIndexes,
  '2026-12-02T06-00-00_backfill-cancel': backfillCancel,
  '2026-12-02T09-00-00_workspace-sends-per-second': workspaceSendsPerSecond,
  '2026-12-03T04-00-00_outbox-key-index': outboxKeyIndex,
};
