/**
 * Send rate limits that hold across worker processes: 30 SMS from one long-code sender (1
 * segment per second), sent by two worker processes, reach the fake Twilio never closer together
 * than one second; a workspace's own Twilio rate (PUT /v1/settings sendsPerSecond) spaces its sends
 * from a 100/s short code; a message whose turn would come after its validity period is failed as
 * `expired` and never reaches the provider.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fakeTwilio, type FakeTwilio } from '../helpers/fake-providers';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

vi.setConfig({ testTimeout: 240_000 });

const SID = `AC${'c'.repeat(32)}`;
/** Numbers of this run only: limiters are keyed by the sending number, shared by the whole database. */
const run = String(Date.now() % 10_000).padStart(4, '0');
const LONG_CODE = `+1500551${run}`;
const SLOW = `+1500552${run}`;
const SHORT_CODE = `+1500553${run}`;
/**
 * A long code's limiter is held while a send's request is in flight and frees one second after the
 * provider's answer (db/send-limits.ts), so the next request leaves no earlier than 1 s after the
 * previous one arrived, however long each took on its way. The fake stamps arrivals with Date.now()
 * (whole ms, the same machine clock as PostgreSQL's clock_timestamp()); the limiter compares times
 * read into JavaScript as whole ms as well: each of the two truncations can cost under 1 ms, so a
 * gap is at least 998 ms. Without the hold, single gaps of 524 ms were seen on the loaded box.
 */
const MIN_GAP_MS = 1000 - 2;

let e: EngineTest;
let tw: FakeTwilio;

beforeAll(async () => {
  tw = await fakeTwilio();
  e = await startEngineTest({
    worker: false,
    env: { TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: 'tw-limits', TWILIO_API_URL: tw.url, SEND_VALIDITY_MS: '120000' },
  });
  for (const [id, from, extra] of [
    ['snd_long', LONG_CODE, {}],
    ['snd_slow', SLOW, { segmentsPerSecond: 0.005 }],
    ['snd_short', SHORT_CODE, { kind: 'short_code' }],
  ] as const) {
    const res = await e.api('POST', '/v1/senders', { id, channel: 'sms', from, kind: 'long_code', ...extra });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }
  const settings = await e.api('PUT', '/v1/settings', { quietHours: { sms: null } });
  expect(settings.status, JSON.stringify(settings.body)).toBe(200);
  await e.spawnWorker();
  await e.spawnWorker();
});
afterAll(async () => {
  await e?.close();
});

async function smsAutomation(name: string, from: string): Promise<string> {
  const template = `tpl_lim_${from.slice(-5)}_${name.length}`;
  const a = await createAutomation(
    e,
    { name, trigger: { type: 'manual' }, steps: [{ id: 'text', type: 'sms', to: 'record', template, from }] },
    { templates: [{ id: template, channel: 'sms', content: { body: 'Hi {{ record.name }}, your visit is confirmed.' } }] },
  );
  return a.id;
}

async function enroll(automationId: string, recordId: string): Promise<void> {
  await putRecord(e, recordId, { phone: `+4071${run}${recordId.slice(-4).padStart(4, '0')}` });
  const res = await e.api('POST', `/v1/automations/${automationId}/enrollments`, { recordId });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

async function messageOf(recordId: string, status: string): Promise<any> {
  return waitFor(`the message of ${recordId} to be ${status}`, async () => {
    const res = await e.api('GET', `/v1/messages?recordId=${recordId}`);
    const m = res.body.items[0];
    return m?.status === status ? m : undefined;
  });
}

describe('send rate limits across workers', () => {
  it('30 SMS from one long-code sender through two workers reach Twilio at most one per second', async () => {
    const automationId = await smsAutomation('Long code', 'snd_long');
    const records = Array.from({ length: 30 }, (_, i) => `lim-${run}-${String(i).padStart(4, '0')}`);
    await Promise.all(records.map((r) => enroll(automationId, r)));

    const fromSender = () => tw.accepted.filter((r) => r.body.From === LONG_CODE);
    await waitFor('30 SMS at the fake', async () => fromSender().length === 30, 180_000, 500).catch(async (err: Error) => {
      const statuses = await Promise.all(records.map(async (r) => (await e.api('GET', `/v1/messages?recordId=${r}`)).body.items[0]?.status));
      throw new Error(`${err.message}: ${fromSender().length} arrived; message statuses ${statuses.join(', ')}`);
    });
    const at = fromSender()
      .map((r) => r.at)
      .sort((x, y) => x - y);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(
      gaps.filter((g) => g < MIN_GAP_MS),
      `gaps between consecutive requests (ms): ${gaps.join(', ')}`,
    ).toEqual([]);

    // Each message went once, and says so.
    for (const r of records) {
      const m = await messageOf(r, 'sent');
      expect(tw.acceptedFor(m.id)).toBe(1);
    }
  });

  it("a workspace's own Twilio rate of 2 per second spaces its SMS from a short code at the provider", async () => {
    const set = await e.api('PUT', '/v1/settings', { sendsPerSecond: { twilio: 2 } });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    const automationId = await smsAutomation('Short code', 'snd_short');
    const records = Array.from({ length: 8 }, (_, i) => `wsr-${run}-${String(i).padStart(4, '0')}`);
    await Promise.all(records.map((r) => enroll(automationId, r)));

    const fromSender = () => tw.accepted.filter((r) => r.body.From === SHORT_CODE);
    await waitFor('8 SMS at the fake', async () => fromSender().length === 8, 120_000, 500);
    const at = fromSender()
      .map((r) => r.at)
      .sort((x, y) => x - y);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // 2/s: at least 500 ms apart (the same 2 ms of truncation as MIN_GAP_MS); the short code alone allows 100/s.
    expect(
      gaps.filter((g) => g < 500 - 2),
      `gaps between consecutive requests (ms): ${gaps.join(', ')}`,
    ).toEqual([]);
    for (const r of records) expect(tw.acceptedFor((await messageOf(r, 'sent')).id)).toBe(1);
    await e.api('PUT', '/v1/settings', { sendsPerSecond: { twilio: null } });
  });

  it('a message whose turn would come after its validity period is failed as expired, never sent', async () => {
    // 0.005 segments per second: after one SMS the sender is busy for 200 s, longer than the 120 s validity.
    const automationId = await smsAutomation('Slow sender', 'snd_slow');
    await enroll(automationId, `exp-${run}-0001`);
    const first = await messageOf(`exp-${run}-0001`, 'sent');
    await enroll(automationId, `exp-${run}-0002`);
    const second = await messageOf(`exp-${run}-0002`, 'failed');

    expect(second).toMatchObject({ errorCode: 'expired', providerId: null, sentAt: null });
    expect(second.error).toMatch(/^expired: its turn under the send rate limits \(.+\) came after its validity period of 2 min; not sent$/);
    expect(tw.acceptedFor(first.id)).toBe(1);
    expect(tw.acceptedFor(second.id)).toBe(0);
    expect(tw.requests.filter((r) => r.body.From === SLOW)).toHaveLength(1);
  });
});
