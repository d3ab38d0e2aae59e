/**
 * `npm run bench:engine`: the enrollment engine, side by side in one run.
 *
 *   (a) enrollments started per second through the API (POST /v1/events/batch) and the router,
 *       against bare `client.workflow.start` of a trivial workflow on the same server (ratio);
 *   (b) step lateness (due moment -> the send activity running) with 2,000 enrollments whose
 *       step falls due within the same minute;
 *   (c) worker memory (RSS, heap after GC) with 100 and with 10,000 sleeping enrollments.
 *
 * Provisions like `npm test` (bench/support.ts): a Temporal dev server; the worker runs as a child
 * process (bench/engine-worker.ts), the API in this process. Writes the "Enrollment engine" section.
 *
 * `npm run bench:engine -- --target cluster [--workers 1,2]`: (a) and (b), with smaller sizes, on
 * the dev server as above and then on the production shape (bench/support.ts startBenchCluster:
 * the Temporal server on PostgreSQL, a compiled API, one and then two compiled workers), with the
 * CPU each process used; writes the "Enrollment engine on the production shape" section.
 */
import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { Client, Connection } from '@temporalio/client';
import type { Db } from '#db/connection';
import { insertAutomation, setAutomationStatus } from '#db/automations';
import type { AutomationDefinition } from '#domain/definition';
import { stopAllProcesses } from '#scripts/provision/proc';
import { mapLimit } from '#platform/concurrency';
import {
  coresUsed,
  count,
  cpuSeconds,
  cpuSnapshot,
  fmtCores,
  loadAverage,
  ownCpuSeconds,
  postmasterPid,
  provision,
  rssMiB,
  runWorkers,
  startBenchApi,
  startBenchCluster,
  startWorkerChild,
  until,
  writeBenchmarkSection,
  type CpuParts,
} from './support';

const log = (line: string) => process.stderr.write(`[bench:engine] ${line}\n`);
const { values: args } = parseArgs({ options: { target: { type: 'string', default: 'dev' }, workers: { type: 'string', default: '1,2' } } });
const ON_CLUSTER = args.target === 'cluster';
if (!ON_CLUSTER && args.target !== 'dev') throw new Error(`--target: dev or cluster, not ${args.target}`);
const WORKER_COUNTS = args.workers.split(',').map(Number);
if (WORKER_COUNTS.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--workers: worker counts such as 1,2, not ${args.workers}`);
// On the cluster each size runs three times (dev server, 1 and 2 workers): smaller, to stay near 10 minutes.
const N_RATE = Number(process.env.BENCH_RATE_N ?? (ON_CLUSTER ? 1000 : 2000));
const N_LATE = Number(process.env.BENCH_LATENESS_N ?? (ON_CLUSTER ? 1000 : 2000));
const DELAY_S = Number(process.env.BENCH_LATENESS_DELAY_S ?? (ON_CLUSTER ? 30 : 60));
const N_MEM_LOW = 100;
const N_MEM_HIGH = Number(process.env.BENCH_MEMORY_N ?? 10_000);
const CONCURRENCY = 64;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Each part's cores and their sum: how much of the machine the run got. */
const withTotal = (c: Record<string, number | undefined>) =>
  `${fmtCores(c)}; **total ${Object.values(c)
    .reduce<number>((a, v) => a + (v ?? 0), 0)
    .toFixed(2)}**`;

/** Cores used over `seconds` -> CPU ms per item, by process. */
const perItem = (c: Record<string, number | undefined>, seconds: number, n: number) =>
  Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v === undefined ? undefined : (v * seconds * 1000) / n]));

const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

/** Where the workload runs: a database, a Temporal client, an API taking the workspace's requests, and the processes whose CPU counts. */
interface Target {
  db: Db;
  temporal: Client;
  workspaceId: string;
  post(path: string, body: unknown): Promise<unknown>;
  cpu: CpuParts;
  workerPids(): number[];
}

interface Figures {
  rawRate: number;
  rawSeconds: number;
  engineRate: number;
  engineSeconds: number;
  ingestSeconds: number;
  /** Enrollments whose first workflow task (and progress activity) ran, per second from the first POST. */
  runningRate: number;
  runningSeconds: number;
  cpuA: Record<string, number | undefined>;
  late: { p50: number; p99: number; max: number; dueSpread: number; startSpread: number };
  cpuB: Record<string, number | undefined>;
  lateSeconds: number;
  workerRss: Array<number | undefined>;
  load: [string, string];
}

/** The template every lateness email uses, once per workspace. */
async function addTemplate(db: Db, workspaceId: string): Promise<void> {
  await db.insertInto('templates').values({ workspace_id: workspaceId, id: 'tpl_bench', name: 'bench', channel: 'email', current_version: 1 }).execute();
  await db
    .insertInto('template_versions')
    .values({
      workspace_id: workspaceId,
      template_id: 'tpl_bench',
      version: 1,
      content: JSON.stringify({ subject: 'Hi {{ record.name }}', html: '<p>Hi</p>', text: 'Hi' }),
    })
    .execute();
}

async function activate(t: Target, id: string, definition: Record<string, unknown>): Promise<void> {
  await insertAutomation(t.db, t.workspaceId, { id, definition: definition as unknown as AutomationDefinition, templateVersions: { tpl_bench: 1 } });
  await setAutomationStatus(t.db, t.workspaceId, id, { status: 'active', onlyNew: true, activated: true });
}

/** Posts events `type` for records `<prefix>-<from>` .. `<prefix>-<from + n - 1>` (new ones), 1000 per request, 4 requests in flight. */
async function postEvents(t: Target, type: string, prefix: string, n: number, from = 0): Promise<void> {
  const chunks: number[][] = [];
  for (let i = 0; i < n; i += 1000) chunks.push(Array.from({ length: Math.min(1000, n - i) }, (_, k) => from + i + k));
  await mapLimit(chunks, 4, (chunk) => t.post('/v1/events/batch', { events: chunk.map((i) => ({ id: `${prefix}-${i}`, type, recordId: `${prefix}-${i}` })) }));
}

const outboxEmpty = async (t: Target) =>
  (await count(t.db, sql<{ n: number }>`select count(*)::int as n from outbox where workspace_id = ${t.workspaceId}`)) === 0;

/** (a) and (b) on one target; `tag` keeps automations, records and events of several runs in one workspace apart. */
async function workload(t: Target, tag: string): Promise<Figures> {
  const { db, temporal } = t;
  const load0 = loadAverage();

  // ---- (a) start rate: raw client.workflow.start vs API + router
  log(`${tag} (a) raw: ${N_RATE} bare client.workflow.start, ${CONCURRENCY} in flight`);
  const runId = Date.now();
  const r0 = Date.now();
  await mapLimit(
    Array.from({ length: N_RATE }, (_, i) => i),
    CONCURRENCY,
    (i) => temporal.workflow.start('benchTrivialWorkflow', { taskQueue: 'bench-raw-no-worker', workflowId: `bench-raw/${runId}/${i}`, args: [] }),
  );
  const rawSeconds = (Date.now() - r0) / 1000;
  const rawRate = N_RATE / rawSeconds;

  const rateId = `aut_bench_rate_${tag}`;
  await activate(t, rateId, { name: 'rate', trigger: { type: 'event', event: `bench.rate.${tag}` }, steps: [{ id: 'nap', type: 'wait', duration: 'P1D' }] });
  log(`${tag} (a) engine: ${N_RATE} events via POST /v1/events/batch -> router -> workflow starts`);
  const cpu0 = cpuSnapshot(t.cpu);
  const e0 = Date.now();
  await postEvents(t, `bench.rate.${tag}`, `rate-${tag}`, N_RATE);
  const ingested = Date.now();
  const e1 = await until(
    'every enrollment started',
    async () =>
      (await outboxEmpty(t)) && (await count(db, sql<{ n: number }>`select count(*)::int as n from enrollments where automation_id = ${rateId}`)) === N_RATE,
    300_000,
  );
  const engineSeconds = (e1 - e0) / 1000;
  const engineRate = N_RATE / engineSeconds;
  log(`${tag} (a) raw ${rawRate.toFixed(0)}/s, engine ${engineRate.toFixed(0)}/s (ingest ${ingested - e0} ms), ratio ${(engineRate / rawRate).toFixed(2)}`);
  const e2 = await until(
    'the rate enrollments to settle',
    async () =>
      (await count(db, sql<{ n: number }>`select count(*)::int as n from enrollments where automation_id = ${rateId} and updated_at > started_at`)) === N_RATE,
    600_000,
    200,
  );
  const runningSeconds = (e2 - e0) / 1000;
  const cpuA = coresUsed(cpu0, cpuSnapshot(t.cpu), runningSeconds);
  log(`${tag} (a) every enrollment past its first task after ${runningSeconds.toFixed(1)} s; cores ${fmtCores(cpuA)}`);

  // ---- (b) lateness
  const lateId = `aut_bench_late_${tag}`;
  await activate(t, lateId, {
    name: 'late',
    trigger: { type: 'event', event: `bench.late.${tag}` },
    steps: [{ id: 'due', type: 'email', to: 'record', template: 'tpl_bench', delay: `PT${DELAY_S}S` }],
  });
  log(`${tag} (b) ${N_LATE} enrollments whose email falls due ${DELAY_S} s after entry`);
  const cpu1 = cpuSnapshot(t.cpu);
  const l0 = Date.now();
  await postEvents(t, `bench.late.${tag}`, `late-${tag}`, N_LATE);
  await until('every lateness enrollment started', () => outboxEmpty(t), 300_000);
  const startSpread = (Date.now() - l0) / 1000;
  const l1 = await until(
    'every lateness email',
    async () =>
      (await count(
        db,
        sql<{
          n: number;
        }>`select count(*)::int as n from enrollment_steps s join enrollments e on e.id = s.enrollment_id where e.automation_id = ${lateId} and s.step_id = 'due'`,
      )) === N_LATE,
    600_000,
    500,
  );
  const cpuB = coresUsed(cpu1, cpuSnapshot(t.cpu), (l1 - l0) / 1000);
  const { rows: lateRows } = await sql<{ late_ms: number; due: Date }>`
    select extract(epoch from (m.created_at - s.due_at)) * 1000 as late_ms, s.due_at as due
    from enrollment_steps s join enrollments e on e.id = s.enrollment_id
    join messages m on m.enrollment_id = e.id and m.step_id = 'due'
    where e.automation_id = ${lateId} and s.step_id = 'due'`.execute(db);
  const late = lateRows.map((r) => Number(r.late_ms)).sort((x, y) => x - y);
  const dues = lateRows.map((r) => r.due.getTime());
  const dueSpread = (Math.max(...dues) - Math.min(...dues)) / 1000;
  const p50 = percentile(late, 50);
  const p99 = percentile(late, 99);
  const max = late[late.length - 1]!;
  log(
    `${tag} (b) lateness p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms, max ${max.toFixed(0)} ms; due within ${dueSpread.toFixed(1)} s; cores ${fmtCores(cpuB)}`,
  );
  return {
    rawRate,
    rawSeconds,
    engineRate,
    engineSeconds,
    ingestSeconds: (ingested - e0) / 1000,
    runningRate: N_RATE / runningSeconds,
    runningSeconds,
    cpuA,
    late: { p50, p99, max, dueSpread, startSpread },
    cpuB,
    lateSeconds: (l1 - l0) / 1000,
    workerRss: await Promise.all(t.workerPids().map(rssMiB)),
    load: [load0, loadAverage()],
  };
}

/** A Temporal dev server and PostgreSQL provisioned like `npm test`, the API in this process, the worker in a child process. */
async function startDevServer() {
  const infra = await provision('followup_bench_engine', log);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    SECRETS_KEY: randomBytes(48).toString('base64'),
    LOG_LEVEL: 'warn',
    DATABASE_URL: infra.databaseUrl,
    TEMPORAL_ADDRESS: infra.temporalAddress,
    TEMPORAL_TASK_QUEUE: 'bench-engine',
    RATE_LIMIT_PER_MINUTE: '100000000',
  };
  const api = await startBenchApi(env, 'engine');
  await addTemplate(api.db, api.workspaceId);
  log(`Temporal ${infra.temporalAddress}, PostgreSQL ${infra.databaseUrl.replace(/\/\/[^@]*@/, '//')}`);
  let worker = await startWorkerChild(env);
  const target: Target = {
    db: api.db,
    temporal: api.temporal,
    workspaceId: api.workspaceId,
    post: (path, body) => api.call('POST', path, body),
    cpu: {
      worker: () => cpuSeconds(worker.child.pid),
      temporal: () => cpuSeconds(infra.pids.temporal),
      postgres: () => cpuSeconds(infra.pids.postgres, true),
      'API + bench': ownCpuSeconds,
    },
    workerPids: () => [worker.child.pid!],
  };
  return {
    target,
    config: api.config,
    worker: () => worker,
    async restartWorker() {
      await worker.stop();
      worker = await startWorkerChild(env);
    },
    async stop() {
      await worker.stop().catch(() => worker.child.kill('SIGKILL'));
      await api.close();
      await infra.stop();
    },
  };
}

/** The default run: (a), (b) and (c) on a Temporal dev server. */
async function onDevServer(): Promise<string[]> {
  const dev = await startDevServer();
  const t = dev.target;
  try {
    const f = await workload(t, 'dev');

    // ---- (c) memory with sleeping enrollments, on a fresh worker
    await dev.restartWorker();
    await activate(t, 'aut_bench_sleep', {
      name: 'sleep',
      trigger: { type: 'event', event: 'bench.sleep' },
      steps: [{ id: 'nap', type: 'wait', duration: 'P30D' }],
    });
    const memIdle = await dev.worker().memory();
    const settled = (n: number) => async () =>
      (await outboxEmpty(t)) &&
      (await count(t.db, sql<{ n: number }>`select count(*)::int as n from enrollments where automation_id = 'aut_bench_sleep' and updated_at > started_at`)) >=
        n;
    log(`(c) ${N_MEM_LOW} sleeping enrollments`);
    await postEvents(t, 'bench.sleep', 'sleep', N_MEM_LOW);
    await until('100 asleep', settled(N_MEM_LOW), 120_000, 200);
    await new Promise((r) => setTimeout(r, 3000));
    const memLow = await dev.worker().memory();
    log(`(c) ${N_MEM_HIGH} sleeping enrollments`);
    await postEvents(t, 'bench.sleep', 'sleep', N_MEM_HIGH - N_MEM_LOW, N_MEM_LOW);
    await until(`${N_MEM_HIGH} asleep`, settled(N_MEM_HIGH), 900_000, 500);
    await new Promise((r) => setTimeout(r, 3000));
    const memHigh = await dev.worker().memory();
    log(`(c) RSS ${mib(memLow.rss)} -> ${mib(memHigh.rss)}, heap ${mib(memLow.heapUsed)} -> ${mib(memHigh.heapUsed)} (cache ${memHigh.maxCachedWorkflows})`);

    const perCached = (memHigh.rss - memLow.rss) / (Math.min(N_MEM_HIGH, memHigh.maxCachedWorkflows) - N_MEM_LOW);
    return [
      '## Enrollment engine',
      '',
      `Measured ${new Date().toISOString()} by \`npm run bench:engine\` on ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, ${mib(totalmem())} RAM, Node ${process.version}, load average ${f.load[0]} at the start and ${loadAverage()} at the end; ` +
        `a private Temporal dev server (\`temporal server start-dev\`, in memory, SQLite) and PostgreSQL 15 on the same machine; ` +
        `the worker (\`startEngine\`, as \`services/worker/main.ts\`) in its own process with default worker options; router batch ${dev.config.ROUTER_BATCH_SIZE}, ${CONCURRENCY} records in flight.`,
      '',
      '| measure | result | target |',
      '| --- | --- | --- |',
      `| (a) bare \`client.workflow.start\`, trivial workflow, ${CONCURRENCY} in flight | ${f.rawRate.toFixed(0)} starts/s (${N_RATE} in ${f.rawSeconds.toFixed(2)} s) | |`,
      `| (a) events via \`POST /v1/events/batch\` -> outbox -> router -> enrollment row + start | ${f.engineRate.toFixed(0)} enrollments/s (${N_RATE} in ${f.engineSeconds.toFixed(2)} s, of which API ingest ${f.ingestSeconds.toFixed(2)} s) | |`,
      `| (a) ratio engine / raw | **${(f.engineRate / f.rawRate).toFixed(2)}** | >= 0.8 |`,
      `| (b) step lateness, due -> send activity running, ${N_LATE} enrollments due within ${f.late.dueSpread.toFixed(1)} s | p50 **${f.late.p50.toFixed(0)} ms**, p99 **${f.late.p99.toFixed(0)} ms**, max ${f.late.max.toFixed(0)} ms | p99 < 1 s |`,
      `| (c) worker memory, idle (0 enrollments) | RSS ${mib(memIdle.rss)}, heap ${mib(memIdle.heapUsed)} | |`,
      `| (c) worker memory, ${N_MEM_LOW} sleeping enrollments | RSS ${mib(memLow.rss)}, heap ${mib(memLow.heapUsed)} | |`,
      `| (c) worker memory, ${N_MEM_HIGH} sleeping enrollments | RSS ${mib(memHigh.rss)}, heap ${mib(memHigh.heapUsed)} (≈ ${(perCached / 1024 / 1024).toFixed(2)} MiB RSS per cached workflow; workflow cache size ${memHigh.maxCachedWorkflows}) | |`,
      '',
      `How: (a) the raw run starts \`benchTrivialWorkflow\` on a task queue nobody polls (the start alone); the engine's enrollments sleep (\`wait P1D\`), and the worker runs their first workflow task and progress activity meanwhile, on the same server and CPUs; the engine run is measured from the first event POST until the outbox is empty and all ${N_RATE} enrollments rows exist (each row is written before its workflow start; the batch commits after every start returned). ` +
        `(b) each enrollment's only step is an email with \`delay: PT${DELAY_S}S\`; lateness is \`messages.created_at\` (the send activity's claim, its first statement) minus the step's \`due_at\` recorded by the workflow; enrollments were started over ${f.late.startSpread.toFixed(1)} s. ` +
        `(c) each enrollment waits \`P30D\`; memory is read inside the worker process after two forced GCs, once every enrollment has run its first workflow task; "heap" is the main thread's V8 heap only (workflows run in the SDK's workflow thread, whose memory shows in RSS).`,
    ];
  } finally {
    await dev.stop();
  }
}

/** (a) and (b) on the dev server (reference, one worker) and on the cluster with each of WORKER_COUNTS workers. */
async function onCluster(): Promise<string[]> {
  const columns: Array<{ label: string; f: Figures }> = [];
  const dev = await startDevServer();
  try {
    columns.push({ label: 'dev server, 1 worker', f: await workload(dev.target, 'dev') });
  } finally {
    await dev.stop();
  }

  log(`the production shape: Temporal server on PostgreSQL, 1 API, up to ${Math.max(...WORKER_COUNTS)} workers`);
  const c = await startBenchCluster({ apis: 1, workers: Math.max(...WORKER_COUNTS) });
  const temporal = new Client({ connection: await Connection.connect({ address: c.temporal.address }) });
  try {
    await addTemplate(c.db, c.workspaceId);
    const postgres = await postmasterPid(c.db);
    for (const n of WORKER_COUNTS) {
      await runWorkers(c, n);
      const running = () => c.services.filter((s) => s.kind === 'worker' && !s.proc.exit);
      const cpu: CpuParts = {};
      for (const w of running()) cpu[w.name] = () => cpuSeconds(w.proc.child.pid);
      cpu.temporal = () => cpuSeconds(c.temporal.process.child.pid);
      cpu.postgres = () => cpuSeconds(postgres, true);
      for (const a of c.services.filter((s) => s.kind === 'api')) cpu[a.name] = () => cpuSeconds(a.proc.child.pid);
      cpu.bench = ownCpuSeconds;
      const f = await workload(
        {
          db: c.db,
          temporal,
          workspaceId: c.workspaceId,
          post: async (path, body) => {
            const res = await fetch(`${c.apiUrls[0]}${path}`, {
              method: 'POST',
              headers: { authorization: `Bearer ${c.apiKey}`, 'content-type': 'application/json' },
              body: JSON.stringify(body),
            });
            if (res.status >= 300) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
            return res.json();
          },
          cpu,
          workerPids: () => running().map((w) => w.proc.child.pid!),
        },
        `w${n}`,
      );
      columns.push({ label: `cluster, ${n} worker${n > 1 ? 's' : ''}`, f });
    }
  } finally {
    await temporal.connection.close();
    await c.stop();
  }

  process.stdout.write(`${JSON.stringify({ bench: 'engine-cluster', sizes: { rate: N_RATE, lateness: N_LATE, delaySeconds: DELAY_S }, columns })}\n`);
  const row = (measure: string, cell: (f: Figures) => string) => `| ${measure} | ${columns.map((c) => cell(c.f)).join(' | ')} |`;
  const ref = columns[0]!.f;
  const vsDev = (x: number, d: number) => `${x.toFixed(0)} (${(x / d).toFixed(2)}× dev)`;
  return [
    '## Enrollment engine on the production shape (`npm run bench:engine -- --target cluster`)',
    '',
    `Measured ${new Date().toISOString()} on ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, ${mib(totalmem())} RAM, Node ${process.version}. ` +
      'Each column in turn, in one run: a Temporal dev server (`temporal server start-dev`, SQLite in memory) with one worker (`startEngine` in a child process under tsx) and the API in the benchmark process; ' +
      "then the production shape started by the fault tests' launcher (test/faults/cluster.ts): the Temporal server 1.29 on PostgreSQL (deploy/temporal/cluster.yaml), one compiled API (`dist/api.js`) and one, then two compiled workers (`dist/worker.js`, each with its outbox router), the service database in the same PostgreSQL. " +
      `Same workload and settings in every column: router batch 500, ${N_RATE} enrollments for (a), ${N_LATE} for (b). The machine is shared with other work: the load average is in the first row.`,
    '',
    `| measure | ${columns.map((c) => c.label).join(' | ')} |`,
    `| --- | ${columns.map(() => '---').join(' | ')} |`,
    row('load average (1 / 5 / 15 min), start -> end', (f) => `${f.load[0]} -> ${f.load[1]}`),
    row(`(a) bare \`client.workflow.start\`, ${CONCURRENCY} in flight, starts/s`, (f) => vsDev(f.rawRate, ref.rawRate)),
    row('(a) enrollments started/s (event -> outbox -> router -> row + start)', (f) => vsDev(f.engineRate, ref.engineRate)),
    row('(a) ratio engine / raw', (f) => `**${(f.engineRate / f.rawRate).toFixed(2)}**`),
    row('(a) enrollments through their first workflow task/s', (f) => vsDev(f.runningRate, ref.runningRate)),
    row('(a) CPU cores used, first POST -> last first task', (f) => withTotal(f.cpuA)),
    row(
      `(b) step lateness, ${N_LATE} emails due ${DELAY_S} s after entry: p50 / p99 / max ms`,
      (f) => `${f.late.p50.toFixed(0)} / **${f.late.p99.toFixed(0)}** / ${f.late.max.toFixed(0)}`,
    ),
    row('(b) enrollments started over / due within, s', (f) => `${f.late.startSpread.toFixed(1)} / ${f.late.dueSpread.toFixed(1)}`),
    row('(b) CPU cores used, first POST -> last send claimed', (f) => withTotal(f.cpuB)),
    row('(a) CPU ms per enrollment, to its first task (less sensitive to other load than the rates)', (f) =>
      withTotal(perItem(f.cpuA, f.runningSeconds, N_RATE)),
    ),
    row('(b) CPU ms per enrollment, entry to send claimed (less sensitive to other load than the rates)', (f) =>
      withTotal(perItem(f.cpuB, f.lateSeconds, N_LATE)),
    ),
    row('worker RSS after (b), MiB', (f) => f.workerRss.map((r) => (r === undefined ? 'n/a' : r.toFixed(0))).join(' + ')),
    '',
    'CPU is each process\'s CPU seconds per second of the phase, read from /proc (1.00 = one core busy; "postgres" is the postmaster and its backends, "API + bench" on the dev server is the benchmark process that also serves the API, "bench" on the cluster only posts and polls). ' +
      "Lateness is `messages.created_at` (the send activity's claim) minus the step's `due_at`. Enrollments of the one-worker column stay asleep in the cluster while the two-worker column runs.",
  ];
}

async function main(): Promise<void> {
  if (ON_CLUSTER) await writeBenchmarkSection('engine-cluster', await onCluster(), log);
  else await writeBenchmarkSection('engine', await onDevServer(), log);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:engine failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  void stopAllProcesses().finally(() => process.exit(1));
});
