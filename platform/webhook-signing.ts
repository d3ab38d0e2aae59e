/**
 * How outbound webhooks are signed (platform/signed-post.ts sends them, for webhook steps and
 * notifications): `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
 */
import { createHmac } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-followup-signature';

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`; receivers recompute and compare. */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** How long a rotated-out secret still signs (a second `v1=`), so receivers can switch at leisure. */
export const SECRET_OVERLAP_MS = 24 * 3600_000;

/** The endpoint's signature header: its secret, and the previous one while its overlap lasts. */
export function signatureFor(
  endpoint: { secret: string; previous_secret: string | null; previous_secret_expires_at: Date | null },
  body: string,
  now: Date,
): string {
  const t = Math.floor(now.getTime() / 1000);
  const header = signWebhook(endpoint.secret, body, t);
  const previous =
    endpoint.previous_secret && endpoint.previous_secret_expires_at && endpoint.previous_secret_expires_at > now ? endpoint.previous_secret : null;
  return previous ? `${header},v1=${signWebhook(previous, body, t).split('v1=')[1]}` : header;
}
