/**
 * Outbound requests reach public addresses only (WEBHOOK_ALLOW_PRIVATE=false): refused at
 * registration (400 naming /body/url, nothing stored) and at send time on the address actually
 * connected to, for notifications and webhook steps. A local server proves nothing arrives.
 */
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, unchangedAfter, type TestApp } from '../helpers/app';
import { createActivities } from '#activities/index';
import { createWebhookEndpoint } from '#db/webhook-endpoints';
import { notify } from '#db/notifications';
import { createOutboundFetch } from '#platform/outbound-http';
import { Notifier } from '#engine/notifier';
import { testDatabaseUrl } from '../helpers/env';

let t: TestApp;
let hits = 0;
const server = createServer((_req, res) => {
  hits++;
  res.end('ok');
});
let port = 0;

beforeAll(async () => {
  t = await startTestApp({ config: { WEBHOOK_ALLOW_PRIVATE: false } });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  port = typeof addr === 'object' && addr ? addr.port : 0;
});
afterAll(async () => {
  server.close();
  await t?.close();
});

const PRIVATE_HOSTS = ['127.0.0.1', '[::1]', '10.0.0.1', '169.254.169.254', '0.0.0.0', 'localhost'];

describe('SSRF guard', () => {
  it.each(PRIVATE_HOSTS)('refuses to register http://%s/ (400, nothing stored)', async (host) => {
    const res = await unchangedAfter(t, () => t.client.POST('/v1/webhook-endpoints', { body: { url: `http://${host}:${port}/hooks` } }));
    expect(res.response.status).toBe(400);
    expect(res.error).toMatchObject({
      field: '/body/url',
      detail: expect.stringMatching(/must reach a public address: .*(loopback, private, link-local|not a public address)/),
    });
  });

  it('refuses at send time, on the address connected to: notifications record the refusal and nothing arrives', async () => {
    // Registered while they were allowed (or before their name changed): send time decides.
    for (const host of PRIVATE_HOSTS) await createWebhookEndpoint(t.db, t.workspaceId, { url: `http://${host}:${port}/hooks` });
    await notify(t.db, t.workspaceId, { id: 'ssrf:1', type: 'task.created', data: {} });
    const notifier = new Notifier({
      db: t.db,
      databaseUrl: testDatabaseUrl(),
      fetch: createOutboundFetch({ allowPrivate: false, timeoutMs: 2000 }),
      timeoutMs: 2000,
      retryBaseMs: 60_000,
      maxAttempts: 20,
      pollMs: 1000,
      logger: { info() {}, warn() {}, error() {}, debug() {} },
    });
    // The notifier serves every workspace: other files' deliveries may be due in this database too.
    const mine = () => t.db.selectFrom('webhook_delivery_attempts').select(['status_code', 'error']).where('workspace_id', '=', t.workspaceId).execute();
    for (let i = 0; i < 20 && (await mine()).length < PRIVATE_HOSTS.length; i++) await notifier.deliverDue();
    const attempts = await mine();
    expect(attempts).toHaveLength(PRIVATE_HOSTS.length);
    for (const a of attempts) expect(a).toMatchObject({ status_code: null, error: expect.stringMatching(/^refused .*is not a public address/) });
    expect(hits).toBe(0);
  });

  it('a webhook step to a private address fails for good without a request', async () => {
    const ep = await createWebhookEndpoint(t.db, t.workspaceId, { url: `http://localhost:${port}/step` });
    const acts = createActivities({ db: t.db, fetch: createOutboundFetch({ allowPrivate: false }) });
    const outcome = await acts.callWebhook({
      workspaceId: t.workspaceId,
      enrollmentId: 'enr_x',
      automationId: 'aut_x',
      recordId: 'r',
      stepId: 'hook',
      endpointId: ep.id,
      idempotencyKey: 'enr_x:hook:1',
      payload: {},
      context: { record: { externalId: 'r' } as never, event: null, enrollment: { id: 'enr_x', automationId: 'aut_x', version: 1, variant: null } },
    } as never);
    expect(outcome).toEqual({ ok: false, status: null, error: expect.stringMatching(/^refused localhost: 127\.0\.0\.1 is not a public address/) });
    expect(hits).toBe(0);
  });

  it('WEBHOOK_ALLOW_PRIVATE=true lets the same request through', async () => {
    const res = await createOutboundFetch({ allowPrivate: true })(`http://localhost:${port}/ok`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(200);
    expect(hits).toBe(1);
  });
});
