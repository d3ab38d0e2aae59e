/**
 * The unknown-send window asks the provider (Twilio): a worker SIGKILLed while its request was at
 * the fake, the retry lists Twilio's Messages / Calls before doing anything else. The fake serves
 * the list from what it really accepted. Counted at the fake: found -> `sent` with the fake's sid
 * and no new request; not there -> sent once; the lookup failing -> the callback is awaited for
 * the grace period and the message is `uncertain`, not resent.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { fakeTwilio, type FakeTwilio } from '../helpers/fake-providers';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

vi.setConfig({ testTimeout: 240_000 });

const SID = `AC${'d'.repeat(32)}`;
/** Numbers of this run only. */
const run = String(Date.now() % 10_000).padStart(4, '0');
const SMS_FROM = `+1500561${run}`;
const VOICE_FROM = `+1500562${run}`;

let e: EngineTest;
let tw: FakeTwilio;

beforeAll(async () => {
  tw = await fakeTwilio();
  e = await startEngineTest({
    worker: false,
    env: { TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: 'tw-lookup', TWILIO_API_URL: tw.url, SEND_TIMEOUT_MS: '4000', SEND_CONFIRM_GRACE_MS: '3000' },
  });
  for (const body of [
    { id: 'snd_lk_sms', channel: 'sms', from: SMS_FROM, kind: 'long_code' },
    { id: 'snd_lk_voice', channel: 'voicemail', from: VOICE_FROM },
  ]) {
    const res = await e.api('POST', '/v1/senders', body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }
  const settings = await e.api('PUT', '/v1/settings', {
    quietHours: { sms: null, voicemail: null },
    defaultSenders: { sms: 'snd_lk_sms', voicemail: 'snd_lk_voice' },
  });
  expect(settings.status, JSON.stringify(settings.body)).toBe(200);
});
afterAll(async () => {
  await e?.close();
});
afterEach(async () => {
  await e.stopWorker();
  tw.reset();
});

/** A phone number per record of this run. */
const phoneOf = (n: number) => `+4072${run}${String(n).padStart(4, '0')}`;

async function oneSend(channel: 'sms' | 'voicemail', recordId: string, n: number): Promise<void> {
  const template = `tpl_lk_${recordId}`;
  const a = await createAutomation(
    e,
    { name: recordId, trigger: { type: 'manual' }, steps: [{ id: 'send', type: channel, to: 'record', template }] },
    {
      templates: [
        { id: template, channel, content: channel === 'sms' ? { body: 'Hi {{ record.name }}, see you at 10.' } : { text: 'Hello, this is Sparkle.' } },
      ],
    },
  );
  await putRecord(e, recordId, { name: 'Ana', phone: phoneOf(n) });
  const res = await e.api('POST', `/v1/automations/${a.id}/enrollments`, { recordId });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

/** Starts a worker process, lets its provider request reach the fake, kills the worker, then lets the fake answer (`status`). */
async function killDuringRequest(channel: 'sms' | 'voicemail', recordId: string, n: number, status?: number): Promise<void> {
  tw.script({ hold: true, ...(status ? { status } : {}) });
  const child = await e.spawnWorker();
  await oneSend(channel, recordId, n);
  const held = await tw.nextHeld();
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  held.release(); // the fake answers a client that is gone
  await new Promise((r) => setTimeout(r, 200));
}

async function settled(recordId: string, status: string): Promise<any> {
  return waitFor(
    `the message of ${recordId} to be ${status}`,
    async () => {
      const m = (await e.api('GET', `/v1/messages?recordId=${recordId}`)).body.items[0];
      return m?.status === status ? m : undefined;
    },
    200_000,
  );
}

describe('a send whose answer was lost: the retry asks Twilio', () => {
  it('SMS accepted by Twilio, worker killed before the write: found in the Messages list, sent with its sid, no new request', async () => {
    await killDuringRequest('sms', 'lk-sms-found', 1);
    expect(tw.accepted).toHaveLength(1);
    const sid = (tw.accepted[0]!.answer as { sid: string }).sid;

    await e.startWorker();
    const m = await settled('lk-sms-found', 'sent');
    expect(m.providerId).toBe(sid);
    expect(m.error).toBeNull();
    expect(tw.requests).toHaveLength(1);
    expect(tw.acceptedFor(m.id)).toBe(1);
    const lookup = tw.lookups[0]!;
    expect(lookup.path).toBe(`/2010-04-01/Accounts/${SID}/Messages.json`);
    expect(lookup.query.get('To')).toBe(phoneOf(1));
    expect(lookup.query.get('From')).toBe(SMS_FROM);
  });

  it('SMS Twilio never took (it answered 500 to the dead worker): not in the list, sent once by the retry', async () => {
    await killDuringRequest('sms', 'lk-sms-absent', 2, 500);
    expect(tw.accepted).toHaveLength(0);

    await e.startWorker();
    const m = await settled('lk-sms-absent', 'sent');
    expect(tw.lookups.length).toBeGreaterThanOrEqual(1);
    expect(tw.requests).toHaveLength(2);
    expect(tw.acceptedFor(m.id)).toBe(1);
    expect(m.providerId).toBe((tw.accepted[0]!.answer as { sid: string }).sid);
    expect(tw.accepted[0]!.body).toMatchObject({ To: phoneOf(2), From: SMS_FROM, Body: 'Hi Ana, see you at 10.' });
  });

  it('the lookup fails: the status callback is awaited for the grace period, then uncertain, not resent', async () => {
    await killDuringRequest('sms', 'lk-sms-down', 3);
    tw.lookupFailure = { status: 500, body: { code: 20500, message: 'Internal Server Error', status: 500 } };

    await e.startWorker();
    const m = await settled('lk-sms-down', 'uncertain');
    expect(tw.lookups.length).toBeGreaterThanOrEqual(1);
    expect(tw.requests).toHaveLength(1);
    expect(tw.acceptedFor(m.id)).toBe(1);
    expect(m.error).toMatch(/may have accepted this message but never confirmed it/);
  });

  it('voicemail call accepted, worker killed before the write: found in the Calls list, sent with its sid, no new request', async () => {
    await killDuringRequest('voicemail', 'lk-vm-found', 4);
    expect(tw.accepted).toHaveLength(1);
    const sid = (tw.accepted[0]!.answer as { sid: string }).sid;
    expect(sid).toMatch(/^CA/);

    await e.startWorker();
    const m = await settled('lk-vm-found', 'sent');
    expect(m.providerId).toBe(sid);
    expect(tw.requests).toHaveLength(1);
    expect(tw.acceptedFor(m.id)).toBe(1);
    expect(tw.lookups[0]!.path).toBe(`/2010-04-01/Accounts/${SID}/Calls.json`);
  });
});
