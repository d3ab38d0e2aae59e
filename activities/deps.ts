import type { Logger } from 'pino';
import type { Db } from '#db/connection';
import type { Channels } from '#providers/channel';
import type { DeliverySettings } from '#providers/registry';

/** What every activity module closes over; built once per worker by createActivities. */
export interface ActivityDeps {
  db: Db;
  clock: () => Date;
  logger: Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;
  channels: Channels;
  /** Outbound webhook HTTP client; node's fetch unless a test hands another. */
  fetch: typeof fetch;
  delivery: DeliverySettings;
}
