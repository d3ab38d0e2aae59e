/**
 * The notifier's LISTEN connection comes back after PostgreSQL terminates its backend
 * (pg_terminate_backend): a notification queued afterwards reaches the endpoint on its NOTIFY,
 * long before the fallback poll (ten minutes here) would pick it up.
 *
 * The notifier runs in the test (no worker): its LISTEN client logs in as a role of its own, so the
 * test can find its backend without touching anyone else's connections.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createWebhookEndpoint } from '#db/webhook-endpoints';
import { notify } from '#db/notifications';
import { createOutboundFetch } from '#platform/outbound-http';
import { Notifier } from '#engine/notifier';
import { startTestApp, type TestApp } from '../helpers/app';
import { testDatabaseUrl } from '../helpers/env';
import { waitFor } from './engine-support';

vi.setConfig({ testTimeout: 180_000 });

const ROLE = `notifier_listen_${process.pid}`;
const received: string[] = [];
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    received.push((JSON.parse(body) as { id: string }).id);
    res.writeHead(200).end();
  });
});
let t: TestApp;
let notifier: Notifier;

beforeAll(async () => {
  t = await startTestApp();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  await createWebhookEndpoint(t.db, t.workspaceId, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks` });
  await sql.raw(`create role ${ROLE} login password 'listen'`).execute(t.db);
  const url = new URL(testDatabaseUrl());
  url.username = ROLE;
  url.password = 'listen';
  notifier = new Notifier({
    db: t.db,
    databaseUrl: url.toString(),
    fetch: createOutboundFetch({ allowPrivate: true, timeoutMs: 2000 }),
    timeoutMs: 2000,
    retryBaseMs: 60_000,
    maxAttempts: 20,
    pollMs: 600_000,
    logger: { info() {}, warn() {}, error() {}, debug() {} },
  });
  await notifier.start();
});
afterAll(async () => {
  await notifier?.stop();
  await sql.raw(`drop role if exists ${ROLE}`).execute(t.db);
  server.close();
  await t?.close();
});

/** The pid of the notifier's LISTEN backend, once one is listening. */
async function listener(): Promise<number | undefined> {
  const { rows } = await sql<{ pid: number }>`select pid from pg_stat_activity where usename = ${ROLE} and query ilike 'LISTEN%'`.execute(t.db);
  return rows[0]?.pid;
}

describe('notifier LISTEN', () => {
  it('terminated: it listens again and a later notification is delivered on its NOTIFY', async () => {
    const first = await waitFor('the notifier to listen', listener);
    await sql`select pg_terminate_backend(${first})`.execute(t.db);
    await waitFor('the notifier to listen again', async () => {
      const pid = await listener();
      return pid !== undefined && pid !== first ? pid : undefined;
    });
    await notify(t.db, t.workspaceId, { id: 'listen:1', type: 'task.created', data: {} });
    // Well inside the ten-minute poll: only the NOTIFY can have woken the notifier.
    await waitFor('the notification to arrive', async () => received.includes('listen:1'), 60_000);
    expect(received).toEqual(['listen:1']);
  });
});
