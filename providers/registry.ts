/**
 * Which provider account a workspace sends through and hears back from. The service-wide ones come
 * from the configuration: SendGrid for email when SENDGRID_API_KEY is set, Twilio for sms and
 * voicemail when TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN are; every other channel is sandboxed
 * (messages stored as `sandboxed`, nothing sent). A workspace's own credentials take their place.
 */
import type { Config } from '#platform/config';
import type { Db } from '#db/connection';
import type { Provider } from '#domain/delivery';
import type { MessageChannel } from '#domain/commands';
import type { Channels, DeliveryChannel } from './channel';
import { workspaceCredentials } from './credentials';
import { sendgridChannel } from './sendgrid';
import { twilioSmsChannel, twilioVoicemailChannel } from './twilio';

/** What sends need from the configuration (platform/config.ts). */
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

type ProviderConfig = Pick<
  Config,
  'SENDGRID_API_KEY' | 'SENDGRID_API_URL' | 'TWILIO_ACCOUNT_SID' | 'TWILIO_AUTH_TOKEN' | 'TWILIO_API_URL' | 'PUBLIC_URL' | 'SEND_TIMEOUT_MS'
>;

export function providersFromConfig(c: ProviderConfig): Partial<Channels> {
  const providers: Partial<Channels> = {};
  if (c.SENDGRID_API_KEY) providers.email = sendgridChannel({ apiKey: c.SENDGRID_API_KEY, baseUrl: c.SENDGRID_API_URL, timeoutMs: c.SEND_TIMEOUT_MS });
  if (c.TWILIO_ACCOUNT_SID && c.TWILIO_AUTH_TOKEN) {
    const twilio = {
      accountSid: c.TWILIO_ACCOUNT_SID,
      authToken: c.TWILIO_AUTH_TOKEN,
      baseUrl: c.TWILIO_API_URL,
      publicUrl: c.PUBLIC_URL,
      timeoutMs: c.SEND_TIMEOUT_MS,
    };
    providers.sms = twilioSmsChannel(twilio);
    providers.voicemail = twilioVoicemailChannel(twilio);
  }
  return providers;
}

export function deliveryFromConfig(
  c: Pick<
    Config,
    | 'PUBLIC_URL'
    | 'SECRETS_KEY'
    | 'SEND_CONFIRM_GRACE_MS'
    | 'SEND_TIMEOUT_MS'
    | 'SEND_VALIDITY_MS'
    | 'SENDGRID_SENDS_PER_SECOND'
    | 'TWILIO_SENDS_PER_SECOND'
    | 'SENDGRID_API_URL'
    | 'TWILIO_API_URL'
  >,
): DeliverySettings {
  return {
    publicUrl: c.PUBLIC_URL,
    secretsKey: c.SECRETS_KEY,
    confirmGraceMs: c.SEND_CONFIRM_GRACE_MS,
    requestTimeoutMs: c.SEND_TIMEOUT_MS,
    validityMs: c.SEND_VALIDITY_MS,
    providerPerSecond: { sendgrid: c.SENDGRID_SENDS_PER_SECOND, twilio: c.TWILIO_SENDS_PER_SECOND },
    sendgridApiUrl: c.SENDGRID_API_URL,
    twilioApiUrl: c.TWILIO_API_URL,
  };
}

/** The channel built from the workspace's own credentials (PUT /v1/providers/...), or undefined when it brought none. */
export async function workspaceChannel(db: Db, d: DeliverySettings, workspaceId: string, channel: MessageChannel): Promise<DeliveryChannel | undefined> {
  if (channel === 'email') {
    const sendgrid = await workspaceCredentials(db, d.secretsKey, workspaceId, 'sendgrid');
    return sendgrid && sendgridChannel({ apiKey: sendgrid.apiKey, baseUrl: d.sendgridApiUrl, timeoutMs: d.requestTimeoutMs });
  }
  const account = await workspaceCredentials(db, d.secretsKey, workspaceId, 'twilio');
  if (!account) return undefined;
  const { accountSid, authToken } = account;
  const twilio = { accountSid, authToken, baseUrl: d.twilioApiUrl, publicUrl: d.publicUrl, timeoutMs: d.requestTimeoutMs };
  return channel === 'sms' ? twilioSmsChannel(twilio) : twilioVoicemailChannel(twilio);
}

type WebhookConfig = Pick<Config, 'SECRETS_KEY' | 'TWILIO_ACCOUNT_SID' | 'TWILIO_AUTH_TOKEN' | 'SENDGRID_WEBHOOK_PUBLIC_KEY'>;

/**
 * The auth tokens that may sign a Twilio callback for a workspace (null: a number no workspace has):
 * of its own account and the service-wide one (still calling back for messages sent before it had
 * its own), the one the request names (AccountSid, signed too), else the first.
 */
export async function twilioCallbackTokens(db: Db, c: WebhookConfig, workspaceId: string | null, accountSid: string | undefined): Promise<string[]> {
  const accounts: Array<{ accountSid?: string; authToken: string }> = [];
  const own = workspaceId ? await workspaceCredentials(db, c.SECRETS_KEY, workspaceId, 'twilio') : undefined;
  if (own) accounts.push(own);
  if (c.TWILIO_AUTH_TOKEN) accounts.push({ accountSid: c.TWILIO_ACCOUNT_SID, authToken: c.TWILIO_AUTH_TOKEN });
  const named = accountSid ? accounts.filter((a) => a.accountSid === accountSid) : accounts.slice(0, 1);
  return named.map((a) => a.authToken);
}

/**
 * The keys that may sign a SendGrid Event Webhook request. A workspace with its own account names
 * itself in the URL it gave SendGrid (`workspaceId`): its key then signs for its own messages only
 * (`onlyWorkspaceId`), so one workspace cannot forge another's statuses; else SENDGRID_WEBHOOK_PUBLIC_KEY.
 */
export async function sendgridWebhookKeys(
  db: Db,
  c: WebhookConfig,
  workspaceId: string | undefined,
): Promise<{ publicKeys: string[]; onlyWorkspaceId?: string }> {
  const own = workspaceId ? await workspaceCredentials(db, c.SECRETS_KEY, workspaceId, 'sendgrid') : undefined;
  if (workspaceId && own?.webhookPublicKey) return { publicKeys: [own.webhookPublicKey], onlyWorkspaceId: workspaceId };
  return { publicKeys: c.SENDGRID_WEBHOOK_PUBLIC_KEY ? [c.SENDGRID_WEBHOOK_PUBLIC_KEY] : [] };
}
