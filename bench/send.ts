/**
 * `npm run bench:send`: sends per second through the worker to the fake providers (the real
 * @sendgrid/mail and twilio clients against local fake HTTP servers, as the tests run them).
 *
 *   (a) BENCH_SEND_N emails, workspace limits lifted (SENDGRID_SENDS_PER_SECOND=0): no limiter;
 *       BENCH_SEND_N may list sizes (`200,1000,2000`, the default): (a) and (b) run at each, so the
 *       table shows where sends/s stop growing with the backlog and which process's CPU grew instead;
 *   (b) BENCH_SEND_N SMS from a short code at 1000 segments/s: every send passes the PostgreSQL
 *       limiter (one row for the whole run), which does not bind;
 *   (c) BENCH_SEND_LIMITED_N SMS from a long code at 1 segment/s: the limiter binds.
 *
 * Each run counts at the fake: accepted requests equal the messages sent, one per message id
 * (none doubled), and every message row ends `sent`. CPU time of the worker process, PostgreSQL
 * (postmaster and backends), the Temporal dev server and this process (API and fakes) over each
 * run, per second of the run, shows which one saturates. Enrollments come from events posted to
 * POST /v1/events/batch for records written beforehand. Provisions like `npm test`
 * (bench/support.ts); writes the "Sending" section of docs/benchmarks.md and prints one line of
 * JSON with the figures.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { sql } from 'kysely';
import { mapLimit } from '#platform/concurrency';
import { FakeSendgrid, FakeTwilio, type FakeProvider } from '../test/helpers/fake-providers';
import {
  coresUsed,
  count,
  cpuSeconds,
  cpuSnapshot,
  fmtCores,
  ownCpuSeconds,
  provision,
  startBenchApi,
  startWorkerChild,
  until,
  writeBenchmarkSection,
  type Infra,
} from './support';

const log = (line: string) => process.stderr.write(`[bench:send] ${line}\n`);
const SIZES = (process.env.BENCH_SEND_N ?? '200,1000,2000').split(',').map(Number);
const TOTAL = SIZES.reduce((a, b) => a + b, 0);
const N_LIMITED = Number(process.env.BENCH_SEND_LIMITED_N ?? 20);
const SID = `AC${'0'.repeat(32)}`;
const LONG_CODE = '+15005550100';
const SHORT_CODE = '+15005550101';

/** CPU seconds so far of the worker, PostgreSQL (postmaster and backends), the Temporal dev server and this process (API and fakes). */
const snapshot = (infra: Infra, workerPid: number | undefined) =>
  cpuSnapshot({
    worker: () => cpuSeconds(workerPid),
    postgres: () => cpuSeconds(infra.pids.postgres, true),
    temporal: () => cpuSeconds(infra.pids.temporal),
    api: ownCpuSeconds,
  });

async function main(): Promise<void> {
  const infra = await provision('followup_bench_send', log);
  const sg = await new FakeSendgrid().start();
  const tw = await new FakeTwilio().start();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    SECRETS_KEY: 'bench-send-secrets-key-0123456789abcdef',
    DATABASE_URL: infra.databaseUrl,
    TEMPORAL_ADDRESS: infra.temporalAddress,
    TEMPORAL_TASK_QUEUE: 'bench-send',
    RATE_LIMIT_PER_MINUTE: '100000000',
    SENDGRID_API_KEY: 'SG.bench',
    SENDGRID_API_URL: sg.url,
    TWILIO_ACCOUNT_SID: SID,
    TWILIO_AUTH_TOKEN: 'bench-token',
    TWILIO_API_URL: tw.url,
    // Limits lifted: only a sender's own limit applies.
    SENDGRID_SENDS_PER_SECOND: '0',
    TWILIO_SENDS_PER_SECOND: '0',
  };
  const api = await startBenchApi(env, 'send');
  const { db, call } = api;
  const ws = { id: api.workspaceId };

  await call('POST', '/v1/senders', { id: 'snd_mail', channel: 'email', from: 'bench@example.com' });
  await call('POST', '/v1/senders', { id: 'snd_short', channel: 'sms', from: SHORT_CODE, kind: 'short_code', segmentsPerSecond: 1000 });
  await call('POST', '/v1/senders', { id: 'snd_long', channel: 'sms', from: LONG_CODE, kind: 'long_code' });
  await call('PUT', '/v1/settings', { quietHours: { sms: null } });
  await call('POST', '/v1/templates', {
    id: 'tpl_mail',
    name: 'mail',
    channel: 'email',
    content: { subject: 'Hi {{ record.name }}', text: 'Hi', html: '<p>Hi</p>' },
  });
  await call('POST', '/v1/templates', { id: 'tpl_sms', name: 'sms', channel: 'sms', content: { body: 'Hi {{ record.name }}, your visit is confirmed.' } });
  const automation = async (name: string, event: string, step: Record<string, unknown>): Promise<string> => {
    const { id } = (await call('POST', '/v1/automations', { name, trigger: { type: 'event', event }, steps: [{ id: 'send', to: 'record', ...step }] })) as {
      id: string;
    };
    await call('POST', `/v1/automations/${id}/activate`, { onlyNew: true });
    return id;
  };
  const autMail = await automation('mail', 'bench.mail', { type: 'email', template: 'tpl_mail', from: 'snd_mail' });
  const autShort = await automation('short', 'bench.short', { type: 'sms', template: 'tpl_sms', from: 'snd_short' });
  const autLong = await automation('long', 'bench.long', { type: 'sms', template: 'tpl_sms', from: 'snd_long' });
  await sql`
    insert into records (workspace_id, external_id, email, phone, name, attributes, unsubscribed, created_at, updated_at)
    select ${ws.id}, 'r-' || i, 'r' || i || '@example.com', '+1415' || lpad(i::text, 7, '0'), 'Record ' || i, '{}', '{}', now(), now()
    from generate_series(0, ${2 * TOTAL + N_LIMITED}) as i`.execute(db);

  /** Posts one event per record, 1000 per request, 4 requests in flight. */
  const postEvents = async (type: string, from: number, n: number) => {
    const chunks: number[][] = [];
    for (let i = 0; i < n; i += 1000) chunks.push(Array.from({ length: Math.min(1000, n - i) }, (_, k) => from + i + k));
    await mapLimit(chunks, 4, (chunk) => call('POST', '/v1/events/batch', { events: chunk.map((i) => ({ id: `${type}-${i}`, type, recordId: `r-${i}` })) }));
  };
  const sentOf = (automationId: string) =>
    count(db, sql<{ n: number }>`select count(*)::int as n from messages where automation_id = ${automationId} and status = 'sent'`);
  const settledOf = (automationId: string) =>
    count(db, sql<{ n: number }>`select count(*)::int as n from messages where automation_id = ${automationId} and status not in ('queued', 'sending')`);
  /** Accepted requests per message id at the fake: how many ids, and the most any one got. */
  const perMessage = (fake: FakeProvider, ids: (r: (typeof fake.accepted)[number]) => string) => {
    const counts = new Map<string, number>();
    for (const r of fake.accepted) counts.set(ids(r), (counts.get(ids(r)) ?? 0) + 1);
    return { ids: counts.size, most: Math.max(0, ...counts.values()) };
  };
  const sgId = (r: FakeSendgrid['accepted'][number]) => String(r.body?.custom_args?.message_id);
  const twId = (r: FakeTwilio['accepted'][number]) => new URL(String(r.body.StatusCallback)).searchParams.get('messageId') ?? '';

  log(`Temporal ${infra.temporalAddress}, PostgreSQL ${infra.databaseUrl.replace(/\/\/[^@]*@/, '//')}`);
  const worker = await startWorkerChild(env);
  const load0 = loadavg();
  const runs: Array<Record<string, unknown>> = [];
  try {
    const bulk = async (label: string, n: number, automationId: string, event: string, fake: FakeProvider, ids: (r: any) => string, from: number) => {
      fake.reset();
      log(`${label}: ${n} sends`);
      const cpu0 = snapshot(infra, worker.child.pid);
      const settled0 = await settledOf(automationId);
      const t0 = Date.now();
      await postEvents(event, from, n);
      const done = await until(`${n} messages settled`, async () => (await settledOf(automationId)) - settled0 === n, 1_800_000, 200);
      const cpu = coresUsed(cpu0, snapshot(infra, worker.child.pid), (done - t0) / 1000);
      const sent = (await sentOf(automationId)) - settled0;
      const at = fake.accepted.map((r) => r.at).sort((x, y) => x - y);
      const lo = Math.floor(n * 0.1);
      const hi = Math.floor(n * 0.9);
      const steady = (hi - lo) / ((at[hi]! - at[lo]!) / 1000);
      const seconds = (at[at.length - 1]! - t0) / 1000;
      const once = perMessage(fake, ids);
      const run = {
        label,
        n,
        sent,
        seconds,
        perSecond: fake.accepted.length / seconds,
        steadyPerSecond: steady,
        accepted: fake.accepted.length,
        messageIds: once.ids,
        mostPerMessage: once.most,
        cpu,
      };
      log(
        `${label}: ${run.perSecond.toFixed(1)}/s overall, ${steady.toFixed(1)}/s steady; sent ${sent}, accepted ${fake.accepted.length}, ids ${once.ids}; cores ${fmtCores(cpu)}`,
      );
      runs.push(run);
      return run;
    };
    let offset = 0;
    const sized: Array<Awaited<ReturnType<typeof bulk>>> = [];
    for (const n of SIZES) {
      sized.push(await bulk('(a) email, no limiter', n, autMail, 'bench.mail', sg, sgId, offset));
      sized.push(await bulk('(b) SMS, short code 1000 segments/s', n, autShort, 'bench.short', tw, twId, offset + n));
      offset += 2 * n;
    }

    tw.reset();
    log(`(c) ${N_LIMITED} SMS from a long code, 1 segment/s`);
    await postEvents('bench.long', offset, N_LIMITED);
    await until(`${N_LIMITED} accepted at the fake`, async () => tw.accepted.length >= N_LIMITED, 600_000, 100);
    await until('every message row settled', async () => (await settledOf(autLong)) === N_LIMITED, 120_000, 200);
    const at = tw.accepted.map((r) => r.at).sort((x, y) => x - y);
    const gaps = at
      .slice(1)
      .map((t, i) => t - at[i]!)
      .sort((x, y) => x - y);
    const span = (at[at.length - 1]! - at[0]!) / 1000;
    const limitedOnce = perMessage(tw, twId);
    const limited = {
      n: N_LIMITED,
      perSecond: (N_LIMITED - 1) / span,
      gapMinMs: gaps[0]!,
      gapMedianMs: gaps[Math.floor(gaps.length / 2)]!,
      gapMaxMs: gaps[gaps.length - 1]!,
      accepted: tw.accepted.length,
      messageIds: limitedOnce.ids,
      mostPerMessage: limitedOnce.most,
    };
    log(`(c) ${limited.perSecond.toFixed(3)}/s; gaps min ${limited.gapMinMs} ms, median ${limited.gapMedianMs} ms, max ${limited.gapMaxMs} ms`);
    const load1 = loadavg();

    const row = (r: (typeof sized)[number]) =>
      `| ${r.label} | ${r.n} (${r.sent} sent) | ${r.perSecond.toFixed(1)} (${r.seconds.toFixed(1)} s) | ${r.steadyPerSecond.toFixed(1)} | ${r.accepted} / ${r.messageIds} / ${r.mostPerMessage} | ${fmtCores(r.cpu)} |`;
    const lines = [
      '## Sending (`npm run bench:send`)',
      '',
      `Measured ${new Date().toISOString()} on ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}, ` +
        `load average ${load0[0]!.toFixed(1)} at the start and ${load1[0]!.toFixed(1)} at the end (the machine is shared: other processes took CPU meanwhile). ` +
        'One worker process (`startEngine`, as `services/worker/main.ts`), a private Temporal dev server and PostgreSQL on the same machine; ' +
        'the API and the fake SendGrid and Twilio servers (the real SDKs talk to them) in the benchmark process. Each message is one enrollment of a one-step automation, started by an event.',
      '',
      '| run | messages | sends/s, event posted -> last accepted | sends/s, steady (10th -> 90th percentile) | accepted at the fake / message ids / most per id | CPU cores used over the run |',
      '| --- | --- | --- | --- | --- | --- |',
      ...sized.map(row),
      `| (c) SMS, long code 1 segment/s | ${limited.n} | **${limited.perSecond.toFixed(3)}** over ${span.toFixed(1)} s; gaps at the fake min ${limited.gapMinMs} ms, median ${limited.gapMedianMs} ms, max ${limited.gapMaxMs} ms | | ${limited.accepted} / ${limited.messageIds} / ${limited.mostPerMessage} | |`,
      '',
      'Reading: "accepted / ids / most per id" equal to N / N / 1 means every message reached the provider exactly once. ' +
        "CPU is each process's CPU seconds per second of the run (1.00 = one core busy); with 2 cores shared by every part (and by other work on the machine), " +
        "the part with the largest share is where the run saturates; sends/s that stop growing with the backlog while no part nears 2 cores point to latency as the bound (one enrollment's workflow tasks and activity round trips through the server), not CPU. (b) - (a) is the cost of the PostgreSQL limiter on every send (two short transactions locking one row). " +
        "In (c) the limiter spaces the sends 1 s apart in PostgreSQL's clock; the gaps at the fake vary by each request's own latency from the worker.",
    ];
    await writeBenchmarkSection('send', lines, log);
    process.stdout.write(`${JSON.stringify({ bench: 'send', runs, limited })}\n`);
  } finally {
    await worker.stop().catch(() => worker.child.kill('SIGKILL'));
    await api.close();
    await sg.stop();
    await tw.stop();
    await infra.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:send failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
