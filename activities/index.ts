/**
 * The worker's activities, built from their dependencies once per worker. Workflows
 * proxy `Activities` (a type); tests hand the same factory a test database, or implement
 * `Activities` with an in-memory recorder.
 */
import type { Db } from '#db/connection';
import { DEV_SECRETS_KEY } from '#platform/config';
import { channelsWith, type Channels } from '#providers/channel';
import type { ActivityDeps } from './deps';
import type { DeliverySettings } from '#providers/registry';
import { messageActivities } from './messages';
import { notifyActivities } from './notify';
import { progressActivities } from './progress';
import { recordActivities } from './records';
import { taskActivities } from './tasks';
import { webhookActivities } from './webhooks';

export type * from '#domain/commands';
export type { Channels, OutboundMessage } from '#providers/channel';
export { PermanentDeliveryError, TransientDeliveryError } from '#providers/channel';
export { SIGNATURE_HEADER } from '#platform/webhook-signing';

const silent = { info() {}, warn() {}, error() {}, debug() {} };

export interface CreateActivitiesOptions {
  db: Db;
  clock?: () => Date;
  logger?: ActivityDeps['logger'];
  /** Providers per channel; a missing one is sandboxed (rendered and stored, never delivered). */
  providers?: Partial<Channels>;
  fetch?: typeof fetch;
  delivery?: Partial<DeliverySettings>;
}

/** Outside a configured worker (tests): links to 127.0.0.1, the development key, no grace, no workspace limits. */
const DEFAULT_DELIVERY: DeliverySettings = {
  publicUrl: 'http://127.0.0.1:3000',
  secretsKey: DEV_SECRETS_KEY,
  confirmGraceMs: 0,
  requestTimeoutMs: 20_000,
  validityMs: 14_400_000,
  providerPerSecond: { sendgrid: 0, twilio: 0 },
  sendgridApiUrl: 'https://api.sendgrid.com',
  twilioApiUrl: 'https://api.twilio.com',
};

export function createActivities(opts: CreateActivitiesOptions) {
  const deps: ActivityDeps = {
    db: opts.db,
    clock: opts.clock ?? (() => new Date()),
    logger: opts.logger ?? silent,
    channels: channelsWith(opts.providers),
    fetch: opts.fetch ?? globalThis.fetch,
    delivery: { ...DEFAULT_DELIVERY, ...opts.delivery },
  };
  const tasks = taskActivities(deps);
  const messages = messageActivities(deps);
  return {
    ...progressActivities(deps),
    ...messages,
    ...tasks,
    ...recordActivities(deps),
    ...webhookActivities(deps),
    ...notifyActivities(deps, tasks, messages),
  };
}

export type Activities = ReturnType<typeof createActivities>;
