/**
 * Notifications to the backend's webhook endpoints, end to end on the Temporal dev server and
 * PostgreSQL: a local HTTP endpoint (loopback, allowed by WEBHOOK_ALLOW_PRIVATE in the test env)
 * counts what arrives and checks every signature with the secret the API gave out.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

vi.setConfig({ testTimeout: 180_000 });

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  json: any;
  /** The signature verified with the endpoint's secret (checked when the request arrived). */
  valid: boolean;
}

/** A backend endpoint: `answer` decides the reply to each request (default 200). */
function endpoint(secrets: () => string[], answer: (n: number, res: ServerResponse) => void = (_n, res) => res.end('ok')) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += String(d);
    });
    req.on('end', () => {
      // The README's verification: t and every v1 from the header; any v1 matching HMAC(secret, `${t}.${body}`).
      const header = String(req.headers['x-followup-signature'] ?? '');
      const t = /(?:^|,)t=(\d+)/.exec(header)?.[1];
      const v1s = [...header.matchAll(/v1=([0-9a-f]+)/g)].map((m) => m[1]);
      const valid = Boolean(t) && secrets().some((s) => v1s.includes(createHmac('sha256', s).update(`${t}.${body}`).digest('hex')));
      received.push({ headers: req.headers, body, json: JSON.parse(body), valid });
      answer(received.length, res);
    });
  });
  return {
    received,
    server,
    async listen(): Promise<string> {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const addr = server.address();
      return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hooks`;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

let e: EngineTest;
beforeAll(async () => {
  e = await startEngineTest({ env: { WEBHOOK_RETRY_BASE_MS: '200', WEBHOOK_TIMEOUT_MS: '2000' } });
});
afterAll(async () => {
  await e?.close();
});

async function register(url: string, events: string[]): Promise<{ id: string; secret: string }> {
  const res = await e.api('POST', '/v1/webhook-endpoints', { url, events });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function deliveries(endpointId: string): Promise<any[]> {
  const res = await e.api('GET', `/v1/webhook-endpoints/${endpointId}/deliveries`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.items;
}

async function openTask(id: string): Promise<void> {
  await e.t.db.insertInto('tasks').values({ id, workspace_id: e.t.workspaceId, record_id: 'n-1', title: 'Call back', created_at: new Date() }).execute();
}

describe('notifications', () => {
  it('a task step and an update_record step reach the endpoint, signed', async () => {
    let secret = '';
    const backend = endpoint(() => [secret]);
    const ep = await register(await backend.listen(), ['task.created', 'record.updated']);
    secret = ep.secret;
    const a = await createAutomation(
      e,
      {
        name: 'Notify',
        trigger: { type: 'manual' },
        steps: [
          { id: 'call', type: 'task', assignee: 'owner', template: 'tpl_ntf_call', priority: 'high' },
          { id: 'stage', type: 'update_record', set: { stage: 'contacted', 'attributes.called': true } },
        ],
      },
      { templates: [{ id: 'tpl_ntf_call', channel: 'task', content: { title: 'Call {{ record.name }}' } }] },
    );
    await putRecord(e, 'n-1', { name: 'Ana' });
    expect((await e.api('POST', `/v1/automations/${a.id}/enrollments`, { recordId: 'n-1' })).status).toBe(201);

    await waitFor('two notifications', async () => backend.received.length >= 2);
    const byType = Object.fromEntries(backend.received.map((r) => [r.json.type, r]));
    expect(backend.received.every((r) => r.valid)).toBe(true);
    expect(byType['task.created']!.json).toMatchObject({
      type: 'task.created',
      workspaceId: e.t.workspaceId,
      data: { recordId: 'n-1', automationId: a.id, stepId: 'call', title: 'Call Ana', priority: 'high', status: 'open' },
    });
    expect(byType['record.updated']!.json).toMatchObject({
      type: 'record.updated',
      data: { recordId: 'n-1', automationId: a.id, changes: { stage: 'contacted', 'attributes.called': true } },
    });
    expect(byType['task.created']!.headers['x-followup-id']).toBe(byType['task.created']!.json.id);
    // Not subscribed: enrollment.started and enrollment.completed never arrive.
    await new Promise((r) => setTimeout(r, 1000));
    expect(backend.received.map((r) => r.json.type).sort()).toEqual(['record.updated', 'task.created']);
    await backend.close();
  });

  it('answered 500 three times then 200: delivered once, four attempts listed', async () => {
    let secret = '';
    const backend = endpoint(
      () => [secret],
      (n, res) => {
        res.statusCode = n <= 3 ? 500 : 200;
        res.end(n <= 3 ? 'boom' : 'ok');
      },
    );
    const ep = await register(await backend.listen(), ['task.updated']);
    secret = ep.secret;
    await openTask('task_ntf_retry');
    expect((await e.api('PATCH', '/v1/tasks/task_ntf_retry', { status: 'done' })).status).toBe(200);

    const [delivery] = await waitFor('the delivery', async () => {
      const list = await deliveries(ep.id);
      return list[0]?.status === 'delivered' ? list : undefined;
    });
    expect(delivery.attempts.map((a: any) => a.statusCode)).toEqual([500, 500, 500, 200]);
    expect(delivery.attempts.map((a: any) => a.attempt)).toEqual([1, 2, 3, 4]);
    expect(backend.received).toHaveLength(4);
    expect(new Set(backend.received.map((r) => r.json.id)).size).toBe(1);
    expect(backend.received.every((r) => r.valid)).toBe(true);
    expect(backend.received.filter((_r, i) => i === 3).map((r) => r.json)).toMatchObject([
      { type: 'task.updated', data: { id: 'task_ntf_retry', status: 'done' } },
    ]);
    await backend.close();
  });

  it('a rotated secret: both signatures for the overlap, so a receiver with either verifies', async () => {
    let secrets: string[] = [];
    const backend = endpoint(() => secrets);
    const ep = await register(await backend.listen(), ['task.updated']);
    const rotated = await e.api('POST', `/v1/webhook-endpoints/${ep.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    expect(Date.parse(rotated.body.previousSecretExpiresAt) - Date.now()).toBeGreaterThan(23 * 3600_000);
    await openTask('task_ntf_rotate');
    expect((await e.api('PATCH', '/v1/tasks/task_ntf_rotate', { status: 'done' })).status).toBe(200);
    await waitFor('the notification', async () => backend.received.length === 1);
    const [got] = backend.received;
    for (const only of [[ep.secret], [rotated.body.secret as string]]) {
      secrets = only;
      const header = String(got!.headers['x-followup-signature']);
      const t = /t=(\d+)/.exec(header)![1];
      const mac = createHmac('sha256', only[0]!).update(`${t}.${got!.body}`).digest('hex');
      expect(header).toContain(`v1=${mac}`);
    }
    await backend.close();
  });

  it('the worker killed mid-delivery: delivered by the next one, not lost', async () => {
    await e.stopWorker();
    let secret = '';
    let firstArrived: () => void = () => undefined;
    const arrived = new Promise<void>((r) => {
      firstArrived = r;
    });
    // The first request is never answered: the worker dies while it waits.
    const backend = endpoint(
      () => [secret],
      (n, res) => {
        if (n === 1) return firstArrived();
        res.end('ok');
      },
    );
    const ep = await register(await backend.listen(), ['task.updated']);
    secret = ep.secret;
    const child = await e.spawnWorker();
    await openTask('task_ntf_kill');
    expect((await e.api('PATCH', '/v1/tasks/task_ntf_kill', { status: 'done' })).status).toBe(200);
    await arrived;
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    await e.startWorker();
    const [delivery] = await waitFor(
      'the delivery after the lease ends',
      async () => {
        const list = await deliveries(ep.id);
        return list[0]?.status === 'delivered' ? list : undefined;
      },
      60_000,
    );
    // The killed attempt left no outcome; the next worker's attempt (the second) delivered it.
    expect(delivery.attempts.map((a: any) => [a.attempt, a.statusCode])).toEqual([[2, 200]]);
    expect(backend.received.map((r) => r.json.id)).toEqual([delivery.notificationId, delivery.notificationId]);
    expect(backend.received.every((r) => r.valid)).toBe(true);
    await backend.close();
  });
});
