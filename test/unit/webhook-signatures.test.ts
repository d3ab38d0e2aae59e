/**
 * The providers' webhook checks say why they refuse a request (the route turns that into 401/403):
 * signatures computed here independently of the providers' packages.
 */
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SENDGRID_SIGNATURE_HEADER, SENDGRID_TIMESTAMP_HEADER, verifySendgridSignature } from '#providers/sendgrid';
import { TWILIO_SIGNATURE_HEADER, verifyTwilioSignature } from '#providers/twilio';

describe('verifySendgridSignature', () => {
  const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const publicKey = key.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  const now = new Date('2026-12-01T00:00:00Z');
  const ts = String(now.getTime() / 1000);
  const body = Buffer.from('[{"event":"delivered"}]');
  const signature = sign('sha256', Buffer.concat([Buffer.from(ts), body]), key.privateKey).toString('base64');

  it('accepts the body as signed, with a timestamp within five minutes', () => {
    expect(verifySendgridSignature({ signature, timestamp: ts }, body, [publicKey], new Date(now.getTime() + 299_000))).toEqual({ ok: true });
  });

  it.each([
    ['no signature', { timestamp: ts }, body, [publicKey], { reason: 'missing', header: SENDGRID_SIGNATURE_HEADER }],
    ['no timestamp', { signature }, body, [publicKey], { reason: 'missing', header: SENDGRID_TIMESTAMP_HEADER }],
    ['a stale timestamp', { signature, timestamp: String(Number(ts) - 301) }, body, [publicKey], { reason: 'stale', maxAgeS: 300 }],
    ['no key configured', { signature, timestamp: ts }, body, [], { reason: 'unconfigured' }],
    ['a changed body', { signature, timestamp: ts }, Buffer.from('[]'), [publicKey], { reason: 'mismatch', header: SENDGRID_SIGNATURE_HEADER }],
    ['a malformed key', { signature, timestamp: ts }, body, ['not a key'], { reason: 'mismatch' }],
  ] as const)('refuses %s', (_what, headers, raw, keys, refusal) => {
    expect(verifySendgridSignature(headers, raw, [...keys], now)).toMatchObject({ ok: false, ...refusal });
  });
});

describe('verifyTwilioSignature', () => {
  const url = 'https://followup.example/webhooks/twilio/sms';
  const params = { To: '+15550001111', From: '+15550002222', Body: 'STOP' };
  const signed = (token: string) =>
    createHmac('sha1', token)
      .update(
        Object.keys(params)
          .sort()
          .reduce((acc, k) => acc + k + params[k as keyof typeof params], url),
      )
      .digest('base64');
  const signers = [
    { authToken: 'token-of-workspace-a', owner: 'a' },
    { authToken: 'token-of-workspace-b', owner: 'b' },
  ];

  it('accepts with the owner of the token that signed', () => {
    expect(verifyTwilioSignature(signed('token-of-workspace-b'), url, params, signers)).toEqual({ ok: true, owner: 'b' });
  });

  it('refuses an unsigned request, one with no token to check, and one signed by another token', () => {
    expect(verifyTwilioSignature(undefined, url, params, signers)).toEqual({ ok: false, reason: 'missing', header: TWILIO_SIGNATURE_HEADER });
    expect(verifyTwilioSignature(signed('token-of-workspace-a'), url, params, [])).toEqual({ ok: false, reason: 'unconfigured' });
    expect(verifyTwilioSignature(signed('a stranger'), url, params, signers)).toEqual({ ok: false, reason: 'mismatch', header: TWILIO_SIGNATURE_HEADER });
  });
});
