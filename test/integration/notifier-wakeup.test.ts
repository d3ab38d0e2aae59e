/**
 * A NOTIFY that reaches the notifier while it is busy with a batch is not lost: the batch's claim
 * ran before the notification committed and found nothing, yet the notification is delivered at
 * once, not at the next poll (ten minutes here).
 *
 * The notifier runs in the test (no worker) on a Kysely instance whose plugin holds the answer of
 * one claim until the test lets it go: PostgreSQL runs the claim, the answer reaches the notifier
 * only after the notification's NOTIFY did.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql, type KyselyPlugin, type PluginTransformResultArgs, type QueryResult, type UnknownRow } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createWebhookEndpoint } from '#db/webhook-endpoints';
import { notify, NOTIFY_CHANNEL } from '#db/notifications';
import { createOutboundFetch } from '#platform/outbound-http';
import { Notifier } from '#engine/notifier';
import { startTestApp, type TestApp } from '../helpers/app';
import { testDatabaseUrl } from '../helpers/env';
import { waitFor } from './engine-support';

vi.setConfig({ testTimeout: 180_000 });

/** Once armed, holds the answer of the next query (the notifier's claim) until released. */
class HoldNextAnswer implements KyselyPlugin {
  private armed: { held: () => void; release: Promise<void> } | undefined;

  /** Resolves when an answer is held; `release` lets it go. */
  arm(): { held: Promise<void>; release: () => void } {
    let held!: () => void;
    let release!: () => void;
    const heldP = new Promise<void>((r) => (held = r));
    this.armed = { held, release: new Promise<void>((r) => (release = r)) };
    return { held: heldP, release };
  }

  transformQuery: KyselyPlugin['transformQuery'] = (args) => args.node;

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const gate = this.armed;
    if (gate) {
      this.armed = undefined;
      gate.held();
      await gate.release;
    }
    return args.result;
  }
}

const received: string[] = [];
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    received.push((JSON.parse(body) as { id: string }).id);
    res.writeHead(200).end();
  });
});
const hold = new HoldNextAnswer();
const listener = new pg.Client({ connectionString: testDatabaseUrl() });
let t: TestApp;
let notifier: Notifier;

beforeAll(async () => {
  t = await startTestApp();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  await createWebhookEndpoint(t.db, t.workspaceId, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks` });
  await listener.connect();
  await listener.query(`LISTEN ${NOTIFY_CHANNEL}`);
  notifier = new Notifier({
    db: t.db.withPlugin(hold),
    databaseUrl: testDatabaseUrl(),
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
  await listener.end();
  server.close();
  await t?.close();
});

describe('notifier wake-up', () => {
  it('a NOTIFY that comes while a batch is claiming is not left for the poll', async () => {
    const heard = () => new Promise<void>((resolve) => listener.once('notification', () => resolve()));
    // A bare NOTIFY starts a batch with nothing to claim; its claim's answer is held.
    const { held, release } = hold.arm();
    const bare = heard();
    await sql`select pg_notify(${NOTIFY_CHANNEL}, '')`.execute(t.db);
    await Promise.all([bare, held]);
    // The notification commits now, after that claim, and its NOTIFY comes while the batch is in
    // hand. The test's own LISTEN connection hears it; a moment more for the notifier's.
    const queued = heard();
    await notify(t.db, t.workspaceId, { id: 'wake:1', type: 'task.created', data: {} });
    await queued;
    await new Promise((r) => setTimeout(r, 500));
    release();
    // Well inside the ten-minute poll: only the NOTIFY kept during the batch can start the next one.
    await waitFor('the notification to arrive', async () => received.includes('wake:1'), 60_000);
    expect(received).toEqual(['wake:1']);
  });
});
