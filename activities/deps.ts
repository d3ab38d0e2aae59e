import type { Logger } from 'pino';
import type { Db } from '../db/connection';
import type { Provider } from '../domain/delivery';
import type { Channels } from './channels';

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

/** What sends need from the configuration (services/common/config.ts). */
export interface DeliverySettings {
  /** Callback URLs and unsubscribe links start with it. */
  publicUrl: string;
  /** Signs unsubscribe links. */
  secretsKey: string;
  /** A send whose answer was lost waits this long for a confirmation before it is `uncertain`. */
  confirmGraceMs: number;
  /** SEND_TIMEOUT_MS: the lease on a claimed send outlives one provider request by SEND_LEASE_MARGIN_MS. */
  requestTimeoutMs: number;
  /** A message that would wait for send capacity longer than this after it was queued fails as expired. */
  validityMs: number;
  /** Sends per second per workspace and provider (0: no limit), unless the workspace sets its own (/v1/settings). */
  providerPerSecond: Record<Provider, number>;
  /** Where a workspace's own credentials send (SENDGRID_API_URL, TWILIO_API_URL). */
  sendgridApiUrl: string;
  twilioApiUrl: string;
}
