/**
 * The router's LISTEN connection comes back after it is lost, however often: its backend is
 * terminated (pg_terminate_backend) twice, and the first reconnect attempt is refused (its role may
 * not log in meanwhile). A later event is then routed on its NOTIFY, long before the fallback poll
 * (ten minutes here) would pick it up.
 *
 * The router runs in the test (no worker): its LISTEN client logs in as a role of its own, so the
 * test can find its backend and refuse its logins without touching anyone else's connections.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Enroller } from '#engine/enroller';
import { OutboxRouter } from '#engine/router';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

vi.setConfig({ testTimeout: 180_000 });

const ROLE = `router_listen_${process.pid}`;
let e: EngineTest;
let router: OutboxRouter;
const warnings: string[] = [];

beforeAll(async () => {
  e = await startEngineTest({ worker: false });
  await sql.raw(`create role ${ROLE} login password 'listen'`).execute(e.t.db);
  const url = new URL(e.config.DATABASE_URL);
  url.username = ROLE;
  url.password = 'listen';
  router = new OutboxRouter({
    db: e.t.db,
    temporal: e.temporal,
    enroller: new Enroller({ db: e.t.db, temporal: e.temporal, taskQueue: e.config.TEMPORAL_TASK_QUEUE }),
    databaseUrl: url.toString(),
    batchSize: 100,
    pollMs: 600_000,
    maxAttempts: 5,
    logger: { info() {}, debug() {}, error() {}, warn: (_obj: unknown, msg?: string) => void warnings.push(String(msg)) },
  });
  await router.start();
});
afterAll(async () => {
  await router?.stop();
  await sql.raw(`drop role if exists ${ROLE}`).execute(e.t.db);
  await e?.close();
});

/** The pid of the router's LISTEN backend, once one is listening. */
async function listener(): Promise<number | undefined> {
  const { rows } = await sql<{ pid: number }>`select pid from pg_stat_activity where usename = ${ROLE} and query ilike 'LISTEN%'`.execute(e.t.db);
  return rows[0]?.pid;
}

async function terminate(pid: number): Promise<void> {
  await sql`select pg_terminate_backend(${pid})`.execute(e.t.db);
}

describe('router LISTEN', () => {
  it('terminated twice, its first reconnect refused: it listens again and a later event is routed on its NOTIFY', async () => {
    const automation = await createAutomation(e, {
      name: 'Listen',
      trigger: { type: 'event', event: 'lead.created' },
      steps: [{ id: 'w', type: 'wait', duration: 'P1D' }],
    });
    await putRecord(e, 'listen-1');

    const first = await waitFor('the router to listen', listener);
    await sql.raw(`alter role ${ROLE} nologin`).execute(e.t.db);
    await terminate(first);
    await waitFor('a refused reconnect', async () => warnings.some((w) => w.includes('LISTEN reconnect failed')));
    await sql.raw(`alter role ${ROLE} login`).execute(e.t.db);
    const second = await waitFor('the router to listen again', async () => {
      const pid = await listener();
      return pid !== undefined && pid !== first ? pid : undefined;
    });
    await terminate(second);
    await waitFor('the router to listen a third time', async () => {
      const pid = await listener();
      return pid !== undefined && pid !== first && pid !== second ? pid : undefined;
    });

    expect((await e.api('POST', '/v1/events', { id: 'evt-listen-1', type: 'lead.created', recordId: 'listen-1' })).status).toBe(202);
    // Well inside the ten-minute poll: only the NOTIFY can have woken the router.
    const enrolled = await waitFor(
      'the event to be routed',
      async () => (await e.api('GET', `/v1/automations/${automation.id}/enrollments`)).body.items.find((x: any) => x.recordId === 'listen-1'),
      60_000,
    );
    expect(enrolled).toMatchObject({ triggerEventId: 'evt-listen-1', status: 'active' });
    // The enrollment row commits before the workflow start returns and the router counts it.
    await waitFor('this router to count the start', async () => router.stats.started === 1, 10_000);
  });
});
