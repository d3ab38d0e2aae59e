/**
 * `npm run test:faults`: the production shape (Temporal server on PostgreSQL, 2 compiled APIs, 2
 * workers with their routers) under a steady load of events, each enrolling a new record into an
 * automation that waits WAIT_S seconds (a durable timer) and then calls the provider fake once.
 * Each scenario injects one fault while the load runs, then checks where the effects happen: every
 * event answered 202 is stored and routed, every enrollment started, every call accepted once at
 * the fake (doubles 0, lost 0). The figures go to .data/faults/report.md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAllProcesses } from '../../scripts/provision/proc';
import { log, report, settle, setUpAutomation, sleep, startCluster, startLoad, startReport, type Cluster, type LoadStats, type Outcome } from './cluster';

const WAIT_S = 3;
const RATE = Number(process.env.FAULTS_RATE ?? 8);
/** The provider's outage: 500s, then no answer, each for this long (the issue says a minute; shortened to keep CI short). */
const OUTAGE_S = Number(process.env.FAULTS_PROVIDER_OUTAGE_S ?? 20);
const SETTLE_MS = 240_000;

let c: Cluster;
beforeAll(async () => {
  await startReport();
  c = await startCluster({ apis: 2, workers: 2 });
  await setUpAutomation(c, WAIT_S);
}, 600_000);
afterAll(async () => {
  await c?.stop();
  await stopAllProcesses(); // what a failed start left running
}, 120_000);

/** Runs the load for `beforeS`, the fault, then `afterS` more seconds of load; settles and checks. */
async function scenario(
  name: string,
  fault: () => Promise<void>,
  opts: { beforeS?: number; afterS?: number } = {},
): Promise<{ o: Outcome; stats: LoadStats; faultEnded: number }> {
  const load = startLoad(c, name.replace(/\W+/g, '-'), RATE);
  await sleep((opts.beforeS ?? 5) * 1000);
  log(`${name}: fault`);
  await fault();
  const faultEnded = Date.now();
  await sleep((opts.afterS ?? 5) * 1000);
  const stats = await load.stop();
  const o = await settle(c, stats, SETTLE_MS);
  const recovered =
    stats.lastFailureAt && stats.lastFailureAt > faultEnded - 60_000
      ? `client failures ended ${((stats.lastFailureAt - faultEnded) / 1000).toFixed(1)}s after the fault ended`
      : 'no client failures';
  await report(name, o, stats, recovered);
  expect(o.stored).toBe(o.accepted);
  expect(o.routed).toBe(o.accepted);
  expect(o.enrollmentsStarted).toBe(o.enrollmentsExpected);
  expect(o.messagesAccepted).toBe(o.messagesExpected);
  expect(o.doubles).toBe(0);
  expect(o.lost).toBe(0);
  expect(o.accepted).toBe(stats.sent);
  return { o, stats, faultEnded };
}

describe('the production shape under faults', () => {
  it('a worker SIGKILLed mid-batch and restarted: nothing lost or doubled', async () => {
    await scenario('worker SIGKILL', async () => {
      await c.kill('worker-1', 'SIGKILL');
      await sleep(3_000);
      await c.start('worker-1');
    });
  });

  it('an API process killed under load: retries with the same event ids create nothing twice', async () => {
    const { stats } = await scenario('API SIGKILL', async () => {
      await c.kill('api-1', 'SIGKILL');
      await sleep(3_000);
      await c.start('api-1');
    });
    expect(stats.statuses.get(500) ?? 0).toBe(0);
  });

  for (const mode of ['fast', 'immediate'] as const) {
    it(`PostgreSQL restarted (${mode}) while the APIs take events: 503 with Retry-After, never 500 or a hang`, async () => {
      const { stats } = await scenario(`PostgreSQL ${mode} restart`, () => c.pg.restart(mode, 4_000));
      expect(stats.statuses.get(500) ?? 0).toBe(0);
      expect(stats.hangs).toBe(0);
      expect(stats.retryAfterMissing).toBe(0);
      expect(stats.statuses.get(503) ?? 0).toBeGreaterThan(0);
    });
  }

  it('the Temporal server restarted: enrollments resume, timers fire once, no call doubled', async () => {
    await scenario('Temporal server restart', () => c.restartTemporal());
  });

  it(`the provider failing (500s for ${OUTAGE_S}s, then no answer for ${OUTAGE_S}s), then recovering`, async () => {
    const before = c.fake.failed;
    await scenario(`provider outage ${2 * OUTAGE_S}s`, async () => {
      c.fake.mode = 'fail';
      await sleep(OUTAGE_S * 1000);
      c.fake.mode = 'hang';
      await sleep(OUTAGE_S * 1000);
      c.fake.mode = 'ok';
    });
    expect(c.fake.failed).toBeGreaterThan(before);
  });
});
