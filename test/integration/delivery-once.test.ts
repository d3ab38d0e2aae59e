/**
 * Exactly one send, counted at the fake provider (never in our own table): a worker SIGKILLed
 * after the provider accepted and before the database write, a provider that hangs 70 s, an exit
 * while the send waits for its retry. Each time the accepted requests per message are 0 or 1 and
 * the message's final status says which; a workspace that chose at least once gets the crashed
 * send again (2 accepted, `sent`).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { fakeSendgrid, type FakeSendgrid } from '../helpers/fake-providers';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

vi.setConfig({ testTimeout: 240_000 });

let e: EngineTest;
let sg: FakeSendgrid;

beforeAll(async () => {
  sg = await fakeSendgrid();
  e = await startEngineTest({
    worker: false,
    env: { SENDGRID_API_KEY: 'SG.once', SENDGRID_API_URL: sg.url, SEND_TIMEOUT_MS: '4000', SEND_CONFIRM_GRACE_MS: '3000' },
  });
  await e.t.db
    .insertInto('senders')
    .values({
      workspace_id: e.t.workspaceId,
      id: 'snd_once',
      channel: 'email',
      from: 'hello@once.example',
      name: null,
      reply_to: null,
      messaging_service_sid: null,
      kind: null,
      segments_per_second: null,
    })
    .execute();
});
afterAll(async () => {
  await e?.close();
});
afterEach(async () => {
  await e.stopWorker();
  sg.reset();
});

async function oneEmail(name: string, recordId: string): Promise<string> {
  const a = await createAutomation(
    e,
    { name, trigger: { type: 'manual' }, steps: [{ id: 'mail', type: 'email', to: 'record', template: `tpl_${recordId}` }] },
    { templates: [{ id: `tpl_${recordId}` }] },
  );
  await putRecord(e, recordId);
  const res = await e.api('POST', `/v1/automations/${a.id}/enrollments`, { recordId });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

async function messageOf(recordId: string): Promise<any> {
  const res = await e.api('GET', `/v1/messages?recordId=${recordId}`);
  return res.body.items[0];
}

async function settled(recordId: string, status: string): Promise<any> {
  return waitFor(
    `the message of ${recordId} to be ${status}`,
    async () => {
      const m = await messageOf(recordId);
      return m?.status === status ? m : undefined;
    },
    200_000,
  );
}

describe('exactly one send, counted at the provider', () => {
  it('the worker dies after the provider accepted and before the write: not resent, marked uncertain', async () => {
    sg.script({ hold: true });
    const child = await e.spawnWorker();
    await oneEmail('Killed', 'once-kill');
    const held = await sg.nextHeld();
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    held.release(); // the provider takes the message; nobody is left to hear the 202
    await waitFor('the fake to accept', async () => sg.accepted.length === 1);

    await e.startWorker(); // the retry runs here, once Temporal sees the heartbeat stop
    const m = await settled('once-kill', 'uncertain');
    expect(sg.requests).toHaveLength(1);
    expect(sg.acceptedFor(m.id)).toBe(1);
    expect(m.error).toMatch(/may have accepted this message but never confirmed it/);
  });

  it('the same crash in a workspace that chose at least once: sent again after the grace period, accepted twice, sent', async () => {
    const chosen = await e.api('PUT', '/v1/settings', { deliveryGuarantee: 'at_least_once' });
    expect(chosen.status, JSON.stringify(chosen.body)).toBe(200);
    try {
      sg.script({ hold: true });
      const child = await e.spawnWorker();
      await oneEmail('Killed twice', 'once-kill-alo');
      const held = await sg.nextHeld();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      held.release();
      await waitFor('the fake to accept', async () => sg.accepted.length === 1);

      await e.startWorker();
      const m = await settled('once-kill-alo', 'sent');
      expect(sg.acceptedFor(m.id)).toBe(2);
      expect(m.error).toBeNull();
    } finally {
      await e.api('PUT', '/v1/settings', { deliveryGuarantee: 'at_most_once' });
    }
  });

  it('a provider that hangs 70 s: the request is aborted, never resent, and the message is uncertain', async () => {
    sg.script({ delayMs: 70_000 });
    await e.startWorker();
    await oneEmail('Hanging', 'once-hang');
    const m = await settled('once-hang', 'uncertain');
    expect(sg.requests).toHaveLength(1);
    // The provider's late answer: it took the message once.
    await waitFor('the hanging provider to answer', async () => sg.accepted.length === 1, 90_000);
    expect(sg.acceptedFor(m.id)).toBe(1);
  });

  it('an exit while the send waits for its retry: nothing goes out, the message is cancelled', async () => {
    sg.script({ status: 500, headers: { 'retry-after': '60' }, body: { errors: [{ message: 'down' }] } });
    await e.startWorker();
    const enrollmentId = await oneEmail('Exited', 'once-exit');
    await waitFor('the first attempt', async () => sg.requests.length === 1);
    const exit = await e.api('POST', `/v1/enrollments/${enrollmentId}/exit`, { reason: 'replied' });
    expect(exit.status, JSON.stringify(exit.body)).toBeLessThan(300);
    const m = await settled('once-exit', 'cancelled');
    expect(sg.requests).toHaveLength(1);
    expect(sg.acceptedFor(m.id)).toBe(0);
  });
});
