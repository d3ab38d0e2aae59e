/**
 * The Twilio lookup facing two sends it cannot tell apart: the same text from the same number to
 * the same person, both with a lost answer, only one of which Twilio took. The send activity runs
 * as a workflow's retries would call it, through the real twilio client to the fake Twilio.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '#activities/index';
import { twilioSmsChannel } from '#providers/twilio';
import { newId } from '#db/ids';
import { getRecord, recordSnapshot } from '#db/records';
import { fakeTwilio, type FakeTwilio } from '../helpers/fake-providers';
import { startTestApp, type TestApp } from '../helpers/app';

const PHONE = `+1555${String(Date.now()).slice(-7)}`;
const SENDER = `snd_lookalike_${Date.now()}`;
/** The client gives up on a request after this long; the fake answers later or never. */
const TIMEOUT_MS = 500;
const GRACE_MS = 5000;

let t: TestApp;
let tw: FakeTwilio;
let acts: ReturnType<typeof createActivities>;

beforeAll(async () => {
  t = await startTestApp();
  tw = await fakeTwilio();
  const twilio = { accountSid: `AC${'c'.repeat(32)}`, authToken: 'tw-token', baseUrl: tw.url, publicUrl: 'https://fu.example.test', timeoutMs: TIMEOUT_MS };
  acts = createActivities({
    db: t.db,
    providers: { sms: twilioSmsChannel(twilio) },
    delivery: { requestTimeoutMs: TIMEOUT_MS, confirmGraceMs: GRACE_MS },
  });
  await t.db
    .insertInto('senders')
    .values({
      workspace_id: t.workspaceId,
      id: SENDER,
      channel: 'sms',
      from: '+15005550006',
      kind: 'short_code',
      name: null,
      reply_to: null,
      messaging_service_sid: null,
      segments_per_second: null,
    })
    .execute();
  const put = await fetch(`${t.baseUrl}/v1/records/lookalike`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ phone: PHONE }),
  });
  expect(put.status).toBe(201);
});
afterAll(async () => {
  await t?.close();
});
afterEach(() => tw.reset());

/** One enrollment's SMS step: returns the send as its retries would make it (the same request each time). */
async function smsStep() {
  const enrollmentId = newId('enr');
  const automationId = `aut_${enrollmentId}`;
  await t.db
    .insertInto('automations')
    .values({ workspace_id: t.workspaceId, id: automationId, name: 'x', current_version: 1, trigger_type: 'manual' })
    .execute();
  await acts.recordProgress({
    workspaceId: t.workspaceId,
    enrollmentId,
    automationId,
    recordId: 'lookalike',
    version: 1,
    workflowId: `wf/${enrollmentId}`,
    seq: 1,
    variant: null,
    triggerEventId: null,
    startedAt: new Date().toISOString(),
    status: 'active',
    currentStep: 's',
  });
  const record = recordSnapshot((await getRecord(t.db, t.workspaceId, 'lookalike'))!);
  const send = () =>
    acts.sendMessage({
      workspaceId: t.workspaceId,
      enrollmentId,
      automationId,
      recordId: 'lookalike',
      idempotencyKey: `${enrollmentId}:s:1`,
      stepId: 's',
      channel: 'sms',
      to: 'record',
      from: SENDER,
      template: { id: 'tpl', version: 1, channel: 'sms', content: { body: 'Your appointment is tomorrow at 10.' } },
      templateId: 'tpl',
      variant: null,
      context: { record, event: null, enrollment: { id: enrollmentId, automationId, version: 1, variant: null } },
      dueAt: new Date().toISOString(),
    });
  return {
    /** One attempt: its status, or the retry it asked for. */
    attempt: () =>
      send().then(
        (r) => ({ status: r.status }),
        (err: { type?: string; message?: string }) => ({ retry: err.type ?? err.message }),
      ),
    row: () =>
      t.db.selectFrom('messages').select(['id', 'status', 'provider_id']).where('idempotency_key', '=', `${enrollmentId}:s:1`).executeTakeFirstOrThrow(),
  };
}

describe('the Twilio lookup and messages it cannot tell apart', () => {
  it('two identical SMS with lost answers, Twilio took one: neither takes its sid, none is sent twice, both uncertain', async () => {
    const first = await smsStep();
    const second = await smsStep();
    // The first is taken by Twilio after the client gave up; the second never reaches it (held, never answered).
    tw.script({ delayMs: TIMEOUT_MS * 3 }, { hold: true });
    expect(await first.attempt()).toEqual({ retry: 'AmbiguousDeliveryError' });
    expect(await second.attempt()).toEqual({ retry: 'AmbiguousDeliveryError' });
    const atTwilio = async (step: typeof first) => tw.acceptedFor((await step.row()).id);
    for (let waited = 0; tw.accepted.length === 0 && waited < 10_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
    expect([await atTwilio(first), await atTwilio(second)]).toEqual([1, 0]);

    // The second asks first: Twilio's one match is the first's. Before the fix it took that sid as
    // its own (`sent`), so the first found nothing left for it and was sent again: twice at Twilio.
    for (let i = 0; i < 3; i += 1) {
      expect(await second.attempt()).toEqual({ retry: 'AwaitingConfirmation' });
      expect(await first.attempt()).toEqual({ retry: 'AwaitingConfirmation' });
    }
    expect([await atTwilio(first), await atTwilio(second)]).toEqual([1, 0]);
    expect(await second.row()).toMatchObject({ status: 'sending', provider_id: null });

    // No status callback within the grace period: both uncertain, neither sent again.
    await new Promise((r) => setTimeout(r, GRACE_MS));
    expect(await second.attempt()).toEqual({ status: 'uncertain' });
    expect(await first.attempt()).toEqual({ status: 'uncertain' });
    expect(tw.accepted).toHaveLength(1);
  });
});
