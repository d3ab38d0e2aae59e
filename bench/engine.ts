/**
 * `npm run bench:engine`: the enrollment engine on a Temporal dev server, side by side in one run.
 *
 *   (a) enrollments started per second through the API (POST /v1/events/batch) and the router,
 *       against bare `client.workflow.start` of a trivial workflow on the same server (ratio);
 *   (b) step lateness (due moment -> the send activity running) with 2,000 enrollments whose
 *       step falls due within the same minute;
 *   (c) worker memory (RSS, heap after GC) with 100 and with 10,000 sleeping enrollments.
 *
 * Provisions like `npm test` (bench/support.ts). The worker runs as a child process
 * (bench/engine-worker.ts), the API in this process.
 * Writes the "Enrollment engine" section of docs/benchmarks.md, keeping the other sections.
 */
import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { sql } from 'kysely';
import { insertAutomation, setAutomationStatus } from '../db/automations';
import type { AutomationDefinition } from '../domain/definition';
import { stopAllProcesses } from '../scripts/provision/proc';
import { mapLimit } from '../services/worker/concurrency';
import { count, provision, startBenchApi, startWorkerChild, until, writeBenchmarkSection } from './support';

const log = (line: string) => process.stderr.write(`[bench:engine] ${line}\n`);
const N_RATE = Number(process.env.BENCH_RATE_N ?? 2000);
const N_LATE = Number(process.env.BENCH_LATENESS_N ?? 2000);
const N_MEM_LOW = 100;
const N_MEM_HIGH = Number(process.env.BENCH_MEMORY_N ?? 10_000);
const CONCURRENCY = 64;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const infra = await provision('followup_bench_engine', log);
  const taskQueue = 'bench-engine';
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    SECRETS_KEY: randomBytes(48).toString('base64'),
    LOG_LEVEL: 'warn',
    DATABASE_URL: infra.databaseUrl,
    TEMPORAL_ADDRESS: infra.temporalAddress,
    TEMPORAL_TASK_QUEUE: taskQueue,
    RATE_LIMIT_PER_MINUTE: '100000000',
  };
  const api = await startBenchApi(env, 'engine');
  const { config, db, temporal } = api;
  const ws = { id: api.workspaceId };
  const post = (path: string, body: unknown) => api.call('POST', path, body);
  await db.insertInto('templates').values({ workspace_id: ws.id, id: 'tpl_bench', name: 'bench', channel: 'email', current_version: 1 }).execute();
  await db
    .insertInto('template_versions')
    .values({
      workspace_id: ws.id,
      template_id: 'tpl_bench',
      version: 1,
      content: JSON.stringify({ subject: 'Hi {{ record.name }}', html: '<p>Hi</p>', text: 'Hi' }),
    })
    .execute();
  const automation = async (id: string, definition: Record<string, unknown>) => {
    await insertAutomation(db, ws.id, { id, definition: definition as unknown as AutomationDefinition, templateVersions: { tpl_bench: 1 } });
    await setAutomationStatus(db, ws.id, id, { status: 'active', onlyNew: true, activated: true });
  };
  /** Posts events for `n` new records, 1000 per request, 4 requests in flight. */
  const postEvents = async (type: string, prefix: string, n: number) => {
    const chunks: number[][] = [];
    for (let i = 0; i < n; i += 1000) chunks.push(Array.from({ length: Math.min(1000, n - i) }, (_, k) => i + k));
    await mapLimit(chunks, 4, (chunk) => post('/v1/events/batch', { events: chunk.map((i) => ({ id: `${prefix}-${i}`, type, recordId: `${prefix}-${i}` })) }));
  };
  const outboxEmpty = async () => (await count(db, sql<{ n: number }>`select count(*)::int as n from outbox where workspace_id = ${ws.id}`)) === 0;

  log(`Temporal ${infra.temporalAddress}, PostgreSQL ${infra.databaseUrl.replace(/\/\/[^@]*@/, '//')}`);
  let worker = await startWorkerChild(env);
  const results: string[] = [];
  try {
    // ---- (a) start rate: raw client.workflow.start vs API + router
    log(`(a) raw: ${N_RATE} bare client.workflow.start, ${CONCURRENCY} in flight`);
    const runId = Date.now();
    const r0 = Date.now();
    await mapLimit(
      Array.from({ length: N_RATE }, (_, i) => i),
      CONCURRENCY,
      (i) => temporal.workflow.start('benchTrivialWorkflow', { taskQueue: 'bench-raw-no-worker', workflowId: `bench-raw/${runId}/${i}`, args: [] }),
    );
    const rawSeconds = (Date.now() - r0) / 1000;
    const rawRate = N_RATE / rawSeconds;

    await automation('aut_bench_rate', {
      name: 'rate',
      trigger: { type: 'event', event: 'bench.rate' },
      steps: [{ id: 'nap', type: 'wait', duration: 'P1D' }],
    });
    log(`(a) engine: ${N_RATE} events via POST /v1/events/batch -> router -> workflow starts`);
    const e0 = Date.now();
    await postEvents('bench.rate', 'rate', N_RATE);
    const ingested = Date.now();
    const e1 = await until(
      'every enrollment started',
      async () =>
        (await outboxEmpty()) &&
        (await count(db, sql<{ n: number }>`select count(*)::int as n from enrollments where automation_id = 'aut_bench_rate'`)) === N_RATE,
      300_000,
    );
    const engineSeconds = (e1 - e0) / 1000;
    const engineRate = N_RATE / engineSeconds;
    log(`(a) raw ${rawRate.toFixed(0)}/s, engine ${engineRate.toFixed(0)}/s (ingest ${ingested - e0} ms), ratio ${(engineRate / rawRate).toFixed(2)}`);
    await until(
      'the rate enrollments to settle',
      async () =>
        (await count(db, sql<{ n: number }>`select count(*)::int as n from enrollments where automation_id = 'aut_bench_rate' and updated_at > started_at`)) ===
        N_RATE,
      600_000,
      500,
    );

    // ---- (b) lateness
    const delay = 60;
    await automation('aut_bench_late', {
      name: 'late',
      trigger: { type: 'event', event: 'bench.late' },
      steps: [{ id: 'due', type: 'email', to: 'record', template: 'tpl_bench', delay: `PT${delay}S` }],
    });
    log(`(b) ${N_LATE} enrollments whose email falls due ${delay} s after entry`);
    const l0 = Date.now();
    await postEvents('bench.late', 'late', N_LATE);
    await until('every lateness enrollment started', outboxEmpty, 300_000);
    const startSpread = (Date.now() - l0) / 1000;
    await until(
      'every lateness email',
      async () =>
        (await count(
          db,
          sql<{
            n: number;
          }>`select count(*)::int as n from enrollment_steps s join enrollments e on e.id = s.enrollment_id where e.automation_id = 'aut_bench_late' and s.step_id = 'due'`,
        )) === N_LATE,
      600_000,
      500,
    );
    const { rows: lateRows } = await sql<{ late_ms: number; due: Date }>`
      select extract(epoch from (m.created_at - s.due_at)) * 1000 as late_ms, s.due_at as due
      from enrollment_steps s join enrollments e on e.id = s.enrollment_id
      join messages m on m.enrollment_id = e.id and m.step_id = 'due'
      where e.automation_id = 'aut_bench_late' and s.step_id = 'due'`.execute(db);
    const late = lateRows.map((r) => Number(r.late_ms)).sort((x, y) => x - y);
    const dues = lateRows.map((r) => r.due.getTime());
    const dueSpread = (Math.max(...dues) - Math.min(...dues)) / 1000;
    const p50 = percentile(late, 50);
    const p99 = percentile(late, 99);
    const max = late[late.length - 1]!;
    log(`(b) lateness p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms, max ${max.toFixed(0)} ms; due times spread over ${dueSpread.toFixed(1)} s`);

    // ---- (c) memory with sleeping enrollments, on a fresh worker
    await worker.stop();
    worker = await startWorkerChild(env);
    await automation('aut_bench_sleep', {
      name: 'sleep',
      trigger: { type: 'event', event: 'bench.sleep' },
      steps: [{ id: 'nap', type: 'wait', duration: 'P30D' }],
    });
    const memIdle = await worker.memory();
    const settled = (n: number) => async () =>
      (await outboxEmpty()) &&
      (await count(db, sql<{ n: number }>`select count(*)::int as n from enrollments where automation_id = 'aut_bench_sleep' and updated_at > started_at`)) >=
        n;
    log(`(c) ${N_MEM_LOW} sleeping enrollments`);
    await postEvents('bench.sleep', 'sleep-low', N_MEM_LOW);
    await until('100 asleep', settled(N_MEM_LOW), 120_000, 200);
    await new Promise((r) => setTimeout(r, 3000));
    const memLow = await worker.memory();
    log(`(c) ${N_MEM_HIGH} sleeping enrollments`);
    await postEvents('bench.sleep', 'sleep-high', N_MEM_HIGH - N_MEM_LOW);
    await until(`${N_MEM_HIGH} asleep`, settled(N_MEM_HIGH), 900_000, 500);
    await new Promise((r) => setTimeout(r, 3000));
    const memHigh = await worker.memory();
    log(`(c) RSS ${mib(memLow.rss)} -> ${mib(memHigh.rss)}, heap ${mib(memLow.heapUsed)} -> ${mib(memHigh.heapUsed)} (cache ${memHigh.maxCachedWorkflows})`);

    const perCached = (memHigh.rss - memLow.rss) / (Math.min(N_MEM_HIGH, memHigh.maxCachedWorkflows) - N_MEM_LOW);
    const now = new Date().toISOString();
    results.push(
      `Measured ${now} by \`npm run bench:engine\` on ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, ${mib(totalmem())} RAM, Node ${process.version}; ` +
        `a private Temporal dev server (\`temporal server start-dev\`, in memory, SQLite) and PostgreSQL 15 on the same machine; ` +
        `the worker (\`startEngine\`, as \`services/worker/main.ts\`) in its own process with default worker options; router batch ${config.ROUTER_BATCH_SIZE}, ${CONCURRENCY} records in flight.`,
      '',
      '| measure | result | target |',
      '| --- | --- | --- |',
      `| (a) bare \`client.workflow.start\`, trivial workflow, ${CONCURRENCY} in flight | ${rawRate.toFixed(0)} starts/s (${N_RATE} in ${rawSeconds.toFixed(2)} s) | |`,
      `| (a) events via \`POST /v1/events/batch\` -> outbox -> router -> enrollment row + start | ${engineRate.toFixed(0)} enrollments/s (${N_RATE} in ${engineSeconds.toFixed(2)} s, of which API ingest ${((ingested - e0) / 1000).toFixed(2)} s) | |`,
      `| (a) ratio engine / raw | **${(engineRate / rawRate).toFixed(2)}** | >= 0.8 |`,
      `| (b) step lateness, due -> send activity running, ${N_LATE} enrollments due within ${dueSpread.toFixed(1)} s | p50 **${p50.toFixed(0)} ms**, p99 **${p99.toFixed(0)} ms**, max ${max.toFixed(0)} ms | p99 < 1 s |`,
      `| (c) worker memory, idle (0 enrollments) | RSS ${mib(memIdle.rss)}, heap ${mib(memIdle.heapUsed)} | |`,
      `| (c) worker memory, ${N_MEM_LOW} sleeping enrollments | RSS ${mib(memLow.rss)}, heap ${mib(memLow.heapUsed)} | |`,
      `| (c) worker memory, ${N_MEM_HIGH} sleeping enrollments | RSS ${mib(memHigh.rss)}, heap ${mib(memHigh.heapUsed)} (≈ ${(perCached / 1024 / 1024).toFixed(2)} MiB RSS per cached workflow; workflow cache size ${memHigh.maxCachedWorkflows}) | |`,
      '',
      `How: (a) the raw run starts \`benchTrivialWorkflow\` on a task queue nobody polls (the start alone); the engine's enrollments sleep (\`wait P1D\`), and the worker runs their first workflow task and progress activity meanwhile, on the same server and CPUs; the engine run is measured from the first event POST until the outbox is empty and all ${N_RATE} enrollments rows exist (each row is written before its workflow start; the batch commits after every start returned). ` +
        `(b) each enrollment's only step is an email with \`delay: PT${delay}S\`; lateness is \`messages.created_at\` (the send activity's claim, its first statement) minus the step's \`due_at\` recorded by the workflow; enrollments were started over ${startSpread.toFixed(1)} s. ` +
        `(c) each enrollment waits \`P30D\`; memory is read inside the worker process after two forced GCs, once every enrollment has run its first workflow task; "heap" is the main thread's V8 heap only (workflows run in the SDK's workflow thread, whose memory shows in RSS).`,
    );
  } finally {
    await worker.stop().catch(() => worker.child.kill('SIGKILL'));
    await api.close();
    await infra.stop();
  }

  await writeBenchmarkSection('engine', ['## Enrollment engine', '', ...results], log);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:engine failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  void stopAllProcesses().finally(() => process.exit(1));
});
