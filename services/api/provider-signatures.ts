/**
 * Is this request really from the provider? Checked on the raw body as received, before anything
 * in it is acted on or stored. The checks themselves are the providers' own libraries
 * (twilio's validateRequest, @sendgrid/eventwebhook); this module only feeds them.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import twilio from 'twilio';
import sendgridWebhook from '@sendgrid/eventwebhook';
import { HttpProblem } from './errors';

const { EventWebhook, EventWebhookHeader } = sendgridWebhook;

export const TWILIO_SIGNATURE_HEADER = 'x-twilio-signature';
export const SENDGRID_SIGNATURE_HEADER = EventWebhookHeader.SIGNATURE().toLowerCase();
export const SENDGRID_TIMESTAMP_HEADER = EventWebhookHeader.TIMESTAMP().toLowerCase();
/** A signed SendGrid request older (or further in the future) than this is refused: a replay. */
export const SENDGRID_MAX_AGE_S = 300;

export const unauthorized = (detail: string, field?: string) => new HttpProblem(401, 'Unauthorized', { detail, ...(field ? { field } : {}) });
export const forbidden = (detail: string, field?: string) => new HttpProblem(403, 'Forbidden', { detail, ...(field ? { field } : {}) });

/** Form parameters as Twilio signs them (first value of a repeated name). */
export function formParams(raw: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(raw.toString('utf8'))) if (!(k in out)) out[k] = v;
  return out;
}

/** An auth token that may have signed a Twilio request, and whose it is (the receiving workspace). */
export interface TwilioSigner<T> {
  authToken: string;
  owner: T;
}

/**
 * X-Twilio-Signature: HMAC-SHA1 under the account's auth token over the URL Twilio called
 * (`url`: PUBLIC_URL + path + query) followed by the sorted form parameters. Answers the owner of
 * the first of `signers` (the accounts that own the number or the message) whose token signed it.
 */
export function verifyTwilio<T>(signature: string | undefined, url: string, params: Record<string, string>, signers: Array<TwilioSigner<T>>): T {
  if (!signature) throw unauthorized(`missing ${TWILIO_SIGNATURE_HEADER}`, `/headers/${TWILIO_SIGNATURE_HEADER}`);
  if (signers.length === 0) throw forbidden('no Twilio auth token is configured for this account');
  const signer = signers.find((s) => twilio.validateRequest(s.authToken, signature, url, params));
  if (!signer) throw forbidden('X-Twilio-Signature does not match', `/headers/${TWILIO_SIGNATURE_HEADER}`);
  return signer.owner;
}

/**
 * SendGrid's Signed Event Webhook: ECDSA P-256 (SHA-256) over timestamp + raw body, the timestamp
 * no more than SENDGRID_MAX_AGE_S away from now.
 */
export function verifySendGrid(headers: { signature?: string; timestamp?: string }, raw: Buffer, publicKeys: string[], now: Date): void {
  if (!headers.signature) throw unauthorized(`missing ${SENDGRID_SIGNATURE_HEADER}`, `/headers/${SENDGRID_SIGNATURE_HEADER}`);
  if (!headers.timestamp) throw unauthorized(`missing ${SENDGRID_TIMESTAMP_HEADER}`, `/headers/${SENDGRID_TIMESTAMP_HEADER}`);
  const ts = Number(headers.timestamp);
  if (!/^\d{1,12}$/.test(headers.timestamp) || Math.abs(now.getTime() / 1000 - ts) > SENDGRID_MAX_AGE_S) {
    throw forbidden(`timestamp is more than ${SENDGRID_MAX_AGE_S} s away from now`, `/headers/${SENDGRID_TIMESTAMP_HEADER}`);
  }
  if (publicKeys.length === 0) throw forbidden('no SendGrid webhook public key is configured (SENDGRID_WEBHOOK_PUBLIC_KEY)');
  const webhook = new EventWebhook();
  const valid = publicKeys.some((key) => {
    try {
      // The key as SendGrid shows it (base64 DER) or as PEM.
      return webhook.verifySignature(webhook.convertPublicKeyToECDSA(key), raw, headers.signature!, headers.timestamp!);
    } catch {
      return false; // a malformed signature or key is a wrong one
    }
  });
  if (!valid) throw forbidden('signature does not match', `/headers/${SENDGRID_SIGNATURE_HEADER}`);
}

/** Whether a SendGrid webhook verification key can be used (base64 DER as SendGrid shows it, or PEM). */
export function isSendGridPublicKey(key: string): boolean {
  try {
    new EventWebhook().convertPublicKeyToECDSA(key);
    return true;
  } catch {
    return false;
  }
}

export const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');

/** Equal strings, compared in time independent of where they differ (both hashed first). */
export function constantTimeEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}
