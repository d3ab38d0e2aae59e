/**
 * `npm run test:faults`: the production shape (Temporal server on PostgreSQL, 2 compiled APIs, 2
 * workers with their routers) under a steady load of events, each enrolling a new record into an
 * automation that waits WAIT_S seconds (a durable timer), then sends an email (SendGrid fake), an
 * SMS (Twilio fake) and calls a webhook (receiver fake). Each scenario injects one fault while the
 * load runs, then checks where the effects happen: every event answered 202 is stored and routed,
 * every enrollment started, every message and call accepted once at its fake (doubles 0, lost 0).
 * The figures go to the test output and .data/faults/report.md.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAllProcesses } from '#scripts/provision/proc';
import { log, report, settle, setUpAutomation, sleep, startCluster, startLoad, startReport, type Cluster, type LoadStats, type Outcome } from './cluster';

const WAIT_S = 3;
/** Events a second: each makes three effects, and the whole run stays within minutes on a shared 2-core box. */
const RATE = Number(process.env.FAULTS_RATE ?? 3);
/** The providers' outage, a minute as the issue says: 500s for half of it, then answers too late. */
const OUTAGE_S = Number(process.env.FAULTS_PROVIDER_OUTAGE_S ?? 60);
/** How long a scenario may take to settle after its load (3 effects an enrollment; on the loaded 2-core box up to 3 minutes). */
const SETTLE_MS = 420_000;

let c: Cluster;
beforeAll(async () => {
  await startReport();
  c = await startCluster({ apis: 2, workers: 2, providers: true });
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
  // This process serves the fakes: its event loop's delay is how late they could answer.
  const lag = monitorEventLoopDelay({ resolution: 20 });
  lag.enable();
  const load = startLoad(c, name.replace(/\W+/g, '-'), RATE);
  await sleep((opts.beforeS ?? 5) * 1000);
  log(`${name}: fault`);
  await fault();
  const faultEnded = Date.now();
  await sleep((opts.afterS ?? 5) * 1000);
  const stats = await load.stop();
  const o = await settle(c, stats, SETTLE_MS);
  lag.disable();
  const after = (t: number) => `${((t - faultEnded) / 1000).toFixed(1)}s after the fault ended`;
  const recovered = [
    stats.lastFailureAt && stats.lastFailureAt > faultEnded - 60_000 ? `client failures ended ${after(stats.lastFailureAt)}` : 'no client failures',
    `last message or call accepted ${after(o.lastEffectAt)}`,
    `fakes' event loop delayed at most ${Math.round(lag.max / 1e6)} ms`,
  ].join('; ');
  await report(name, o, stats, recovered);
  expect(o.stored).toBe(o.accepted);
  expect(o.routed).toBe(o.accepted);
  expect(o.enrollmentsStarted).toBe(o.enrollmentsExpected);
  expect(o.messagesAccepted).toBe(o.messagesExpected);
  expect(o.callsAccepted).toBe(o.callsExpected);
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

  it(`the providers failing for ${OUTAGE_S}s (500s, then answering too late), then recovering`, async () => {
    const providers = [c.sendgrid, c.twilio];
    const refused = () => c.fake.failed + providers.reduce((n, p) => n + p.requests.length - p.accepted.length, 0);
    const before = refused();
    const lookupsBefore = c.twilio.lookups.length;
    const { o } = await scenario(`providers outage ${OUTAGE_S}s`, async () => {
      c.fake.mode = 'fail';
      for (const p of providers) p.outage = { status: 500 };
      await sleep((OUTAGE_S / 2) * 1000);
      // The webhook receiver does not answer at all; SendGrid and Twilio take the message and
      // answer after the send's 4 s timeout (SEND_TIMEOUT_MS): it must not be sent again.
      c.fake.mode = 'hang';
      for (const p of providers) p.outage = { delayMs: 6_000 };
      await sleep((OUTAGE_S / 2) * 1000);
      c.fake.mode = 'ok';
      for (const p of providers) p.outage = undefined;
    });
    expect(refused()).toBeGreaterThan(before);
    // A message whose answer came too late is resolved, neither resent nor left `uncertain`: each SMS
    // by Twilio's Messages lookup (one match, as every record has its own number), each email by
    // SendGrid's Event Webhook (SendGrid has no lookup). Measured on 2026-11-30 with 212 events: one
    // number and address for all records and no Event Webhook left 148 emails and 87 SMS uncertain
    // (and one SMS doubled: the lookup took another message's sid for its own, fixed since: see
    // test/integration/delivery-lookalikes.test.ts); a number per record
    // left 137 emails and 0 SMS uncertain; with the Event Webhook too, 0 and 0.
    expect(c.twilio.lookups.length).toBeGreaterThan(lookupsBefore);
    expect(o.uncertain).toEqual({ email: 0, sms: 0 });
  });
});
