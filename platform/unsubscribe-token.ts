/**
 * Signed unsubscribe tokens for `${PUBLIC_URL}/u/<token>` (List-Unsubscribe and the link in the
 * email). A token names a workspace, a record and a channel and carries an HMAC-SHA256 over them,
 * keyed from SECRETS_KEY: anyone can read which record it is for, nobody can make one for another
 * record. No expiry: an unsubscribe link in a years-old email must still work (RFC 8058 asks that
 * one-click links keep working).
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { Channel } from '#domain/definition';
import { CHANNELS } from '#domain/settings';

export type UnsubscribeChannel = Channel;

export interface UnsubscribeSubject {
  workspaceId: string;
  /** The record's external id. */
  recordId: string;
  channel: UnsubscribeChannel;
}

/** 128 bits of MAC: unguessable, and the URL stays short enough for any mail client. */
const MAC_BYTES = 16;

// A key of its own, so that a token can never be replayed as some other signed value made from
// the same SECRETS_KEY. Derived once per secret.
const keys = new Map<string, Buffer>();
function keyFor(secretsKey: string): Buffer {
  let key = keys.get(secretsKey);
  if (!key) {
    key = Buffer.from(hkdfSync('sha256', secretsKey, 'followup', 'unsubscribe-token/v1', 32));
    keys.set(secretsKey, key);
  }
  return key;
}

function mac(secretsKey: string, payload: string): Buffer {
  return createHmac('sha256', keyFor(secretsKey)).update(payload).digest().subarray(0, MAC_BYTES);
}

export function signUnsubscribeToken(secretsKey: string, subject: UnsubscribeSubject): string {
  const payload = Buffer.from(JSON.stringify([subject.workspaceId, subject.recordId, subject.channel])).toString('base64url');
  return `${payload}.${mac(secretsKey, payload).toString('base64url')}`;
}

/** The subject of a genuine token; null for anything else (malformed, altered, other key). */
export function verifyUnsubscribeToken(secretsKey: string, token: string): UnsubscribeSubject | null {
  const [payload, signature, extra] = token.split('.');
  if (!payload || !signature || extra !== undefined) return null;
  const given = Buffer.from(signature, 'base64url');
  const expected = mac(secretsKey, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(parts) || parts.length !== 3) return null;
  const [workspaceId, recordId, channel] = parts as unknown[];
  if (typeof workspaceId !== 'string' || typeof recordId !== 'string' || typeof channel !== 'string' || !(CHANNELS as readonly string[]).includes(channel))
    return null;
  return { workspaceId, recordId, channel: channel as UnsubscribeChannel };
}

/** The link to put in an email (body and List-Unsubscribe): `${PUBLIC_URL}/u/<token>`. */
export function unsubscribeUrl(config: { PUBLIC_URL: string; SECRETS_KEY: string }, subject: UnsubscribeSubject): string {
  return `${config.PUBLIC_URL}/u/${signUnsubscribeToken(config.SECRETS_KEY, subject)}`;
}
