/** Unsubscribe links: verifiable by the service, unforgeable for anyone without SECRETS_KEY. */
import { describe, expect, it } from 'vitest';
import { signUnsubscribeToken, unsubscribeUrl, verifyUnsubscribeToken } from '#platform/unsubscribe-token';

const KEY = 'k'.repeat(40);
const subject = { workspaceId: 'ws_1', recordId: 'lead/42 ü', channel: 'email' as const };

describe('unsubscribe tokens', () => {
  it('verify to the workspace, record and channel they were signed for', () => {
    expect(verifyUnsubscribeToken(KEY, signUnsubscribeToken(KEY, subject))).toEqual(subject);
  });

  it('are URL-safe and stable', () => {
    const token = signUnsubscribeToken(KEY, subject);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(signUnsubscribeToken(KEY, subject)).toBe(token);
    expect(unsubscribeUrl({ PUBLIC_URL: 'https://fu.example.com', SECRETS_KEY: KEY }, subject)).toBe(`https://fu.example.com/u/${token}`);
  });

  it('differ per record and channel', () => {
    const a = signUnsubscribeToken(KEY, subject);
    expect(signUnsubscribeToken(KEY, { ...subject, recordId: 'lead/43 ü' })).not.toBe(a);
    expect(signUnsubscribeToken(KEY, { ...subject, channel: 'sms' })).not.toBe(a);
  });

  it('refuse another key, an altered payload or signature, and garbage', () => {
    const token = signUnsubscribeToken(KEY, subject);
    const [payload, mac] = token.split('.') as [string, string];
    const forged = Buffer.from(JSON.stringify(['ws_1', 'lead-99', 'email'])).toString('base64url');
    expect(verifyUnsubscribeToken('x'.repeat(40), token)).toBeNull();
    expect(verifyUnsubscribeToken(KEY, `${forged}.${mac}`)).toBeNull();
    expect(verifyUnsubscribeToken(KEY, `${payload}.${mac.slice(0, -2)}AA`)).toBeNull();
    expect(verifyUnsubscribeToken(KEY, `${payload}.${mac}.x`)).toBeNull();
    for (const junk of ['', '.', 'abc', `${payload}.`, `.${mac}`]) expect(verifyUnsubscribeToken(KEY, junk)).toBeNull();
  });
});
