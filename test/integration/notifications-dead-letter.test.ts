/**
 * Poison notification deliveries: a backend endpoint that keeps failing gets WEBHOOK_MAX_ATTEMPTS
 * (3 here) attempts, then the delivery is failed and parked in outbox_dead_letters with its last
 * error, counted in the worker's metrics, listed by the admin API and retried through it with a
 * fresh budget. The endpoint is a local HTTP server (loopback, allowed by WEBHOOK_ALLOW_PRIVATE in
 * the test env) that answers 500 until the test lets it succeed.
 */
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { rawRequest, TEST_ADMIN_TOKEN } from '../helpers/app';
import { startEngineTest, waitFor, type EngineTest } from './engine-support';

vi.setConfig({ testTimeout: 180_000 });

let e: EngineTest;
let failing = true;
const received: string[] = [];
const backend = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    received.push(String(req.headers['x-followup-id']));
    res.statusCode = failing ? 500 : 200;
    res.end(failing ? 'boom' : 'ok');
  });
});

beforeAll(async () => {
  e = await startEngineTest({ env: { WEBHOOK_RETRY_BASE_MS: '100', WEBHOOK_TIMEOUT_MS: '2000', WEBHOOK_MAX_ATTEMPTS: '3' } });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
});
afterAll(async () => {
  backend.closeAllConnections();
  await new Promise((r) => backend.close(r));
  await e?.close();
});

const admin = (method: string, path: string) => rawRequest(e.t, method, path, { key: TEST_ADMIN_TOKEN });

async function delivery(endpointId: string): Promise<any> {
  const res = await e.api('GET', `/v1/webhook-endpoints/${endpointId}/deliveries`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.items[0];
}

describe('notification dead letters', () => {
  it('an endpoint that always fails: parked after 3 attempts with its last error, counted, listed; a retry delivers it', async () => {
    const addr = backend.address();
    const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hooks`;
    const ep = await e.api('POST', '/v1/webhook-endpoints', { url, events: ['task.updated'] });
    expect(ep.status, JSON.stringify(ep.body)).toBe(201);
    await e.t.db
      .insertInto('tasks')
      .values({ id: 'task_dl_ntf', workspace_id: e.t.workspaceId, record_id: 'r-1', title: 'Call back', created_at: new Date() })
      .execute();
    expect((await e.api('PATCH', '/v1/tasks/task_dl_ntf', { status: 'done' })).status).toBe(200);

    const failed = await waitFor('the delivery to fail', async () => {
      const d = await delivery(ep.body.id);
      return d?.status === 'failed' ? d : undefined;
    });
    expect(failed.attempts.map((a: any) => a.statusCode)).toEqual([500, 500, 500]);
    // Three requests of the one notification, and no fourth.
    expect(received).toHaveLength(3);
    expect(new Set(received).size).toBe(1);

    const parked = await e.t.db.selectFrom('outbox_dead_letters').selectAll().where('workspace_id', '=', e.t.workspaceId).execute();
    expect(parked).toHaveLength(1);
    expect(parked[0]).toMatchObject({ kind: 'webhook_delivery', outbox_id: null, delivery_id: failed.id, attempts: 3, last_error: 'answered 500' });
    expect(parked[0]!.payload).toMatchObject({ deliveryId: failed.id, endpointId: ep.body.id, type: 'task.updated' });

    const metrics = await e.engine!.metrics.registry.metrics();
    expect(metrics).toMatch(/^followup_notifier_dead_lettered_total 1$/m);

    const listed = await admin('GET', '/admin/dead-letters');
    expect(listed.status).toBe(200);
    const item = listed.body.items.find((x: any) => x.workspaceId === e.t.workspaceId);
    expect(item).toMatchObject({
      id: String(parked[0]!.id),
      kind: 'webhook_delivery',
      outboxId: null,
      deliveryId: failed.id,
      attempts: 3,
      lastError: 'answered 500',
    });

    failing = false;
    const retried = await admin('POST', `/admin/dead-letters/${item.id}/retry`);
    expect(retried.status, JSON.stringify(retried.body)).toBe(202);
    expect(retried.body).toEqual({ id: item.id, deliveryId: failed.id });
    const delivered = await waitFor('the retried delivery', async () => {
      const d = await delivery(ep.body.id);
      return d?.status === 'delivered' ? d : undefined;
    });
    expect(delivered.attempts.map((a: any) => [a.attempt, a.statusCode])).toEqual([
      [1, 500],
      [2, 500],
      [3, 500],
      [4, 200],
    ]);
    expect(received).toHaveLength(4);
    expect(new Set(received).size).toBe(1);
    expect(await e.t.db.selectFrom('outbox_dead_letters').select('id').where('workspace_id', '=', e.t.workspaceId).execute()).toEqual([]);
  });
});
