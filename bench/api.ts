/**
 * `npm run bench:api`: the API's ingest paths under load, with PostgreSQL on the same box.
 *
 * 1. PostgreSQL: BENCH_DATABASE_URL (its database is recreated) or else the private cluster that
 *    `npm start` uses (scripts/provision, database `followup_bench`, recreated).
 * 2. The API in a child process (`bench/api.ts --serve`): the real app, logging off, a lazy
 *    Temporal client (ingestion never calls Temporal; no Temporal server is needed).
 * 3. autocannon: POST /v1/events (a unique event id per request, via setupRequest), then
 *    PUT /v1/records/{id} (every request changes the record, so each one writes a record_changed
 *    outbox row), BENCH_DURATION seconds each (10) with BENCH_CONNECTIONS connections (50).
 * 4. Counts rows afterwards: every 202 must be an event row and an outbox row (no event lost).
 * 5. Writes the figures to docs/benchmarks.md between the bench:api markers (other sections kept).
 *
 * `npm run bench:api -- --target cluster [--apis 1,2]`: the same load on the run above and then on
 * the production shape (bench/support.ts startBenchCluster: Temporal server on PostgreSQL, compiled
 * APIs, two workers), first on one API and then spread over two, with the CPU time of each
 * process per request; writes the bench:api-cluster section.
 */
import { randomBytes } from 'node:crypto';
import { fork } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
// @ts-expect-error autocannon publishes no types; the little used here is typed below.
import autocannonUntyped from 'autocannon';
import { sql } from 'kysely';
import { Client, Connection } from '@temporalio/client';
import { createDb } from '#db/connection';
import { migrateToLatest } from '#db/migrate';
import { createWorkspaceWithKey } from '#db/workspaces';
import { loadConfig } from '#platform/config';
import { freePort, stopAllProcesses, waitFor } from '#scripts/provision/proc';
import { loadProvisionSettings } from '#scripts/provision/settings';
import { recreateDatabase, startLocalPostgres } from '#scripts/provision/postgres';
import {
  coresUsed,
  cpuSeconds,
  cpuSnapshot,
  loadAverage,
  ownCpuSeconds,
  postmasterPid,
  startBenchCluster,
  writeBenchmarkSection,
  type CpuParts,
} from './support';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const POOL = Number(process.env.BENCH_POOL_SIZE ?? 20);

// autocannon ships no types: the few it needs, declared here.
// eslint-disable-next-line @typescript-eslint/no-namespace
namespace autocannon {
  export interface Request {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string;
  }
  export interface Options {
    /** Several URLs: the connections are spread over them. */
    url: string | string[];
    connections: number;
    duration: number;
    requests: Array<Request & { setupRequest?: (req: Request) => Request; onResponse?: (status: number, body: string) => void }>;
  }
  export interface Result {
    requests: { total: number; average: number };
    latency: { p50: number; p90: number; p99: number; max: number };
    '2xx': number;
    non2xx: number;
    errors: number;
    timeouts: number;
  }
}
const autocannon = autocannonUntyped as (opts: autocannon.Options, cb: (err: Error | null, result: autocannon.Result) => void) => unknown;

/** Child mode: the API on PORT, nothing logged. */
async function serve(): Promise<void> {
  const { buildApp } = await import('#services/api/app');
  const config = loadConfig();
  const db = createDb(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE });
  const temporal = new Client({ connection: Connection.lazy({ address: config.TEMPORAL_ADDRESS }) });
  const app = await buildApp({ db, temporal, config, logger: false });
  await app.listen({ host: '127.0.0.1', port: config.PORT });
  process.send?.('ready');
  process.on(
    'SIGTERM',
    () =>
      void app
        .close()
        .then(() => db.destroy())
        .then(() => process.exit(0)),
  );
}

interface RunResult {
  name: string;
  requests: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function run(name: string, opts: autocannon.Options): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, r) => {
      if (err) return reject(err);
      resolve({
        name,
        requests: r.requests.total,
        ok: r['2xx'],
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        rps: Math.round(r.requests.average),
        p50: r.latency.p50,
        p90: r.latency.p90,
        p99: r.latency.p99,
        max: r.latency.max,
      });
    });
  });
}

/** What one target measured: both routes, CPU ms per request of each part, and the durability check. */
interface Measured {
  warm: RunResult;
  events: RunResult;
  records: RunResult;
  cpuEvents: Record<string, number | undefined>;
  cpuRecords: Record<string, number | undefined>;
  accepted: number;
  stored: number;
  /** Accepted events with their outbox row (undefined on the cluster: its workers' routers consume the rows). */
  withOutbox?: number;
  recordsAccepted: number;
  recordsWithOutbox?: number;
  load: [string, string];
}

/**
 * autocannon against `urls` (connections spread over them): a warm-up, POST /v1/events, then
 * PUT /v1/records/{id}, with the CPU of each of `cpu`'s parts per request; afterwards every event
 * answered 202 is looked up in `db` (and its outbox row, when `outbox`).
 */
async function measure(
  urls: string[],
  db: ReturnType<typeof createDb>,
  ws: { id: string; apiKey: string },
  cpu: CpuParts,
  outbox: boolean,
  log: (line: string) => void,
): Promise<Measured> {
  const load0 = loadAverage();
  const url = urls.length === 1 ? urls[0]! : urls;
  const headers = { authorization: `Bearer ${ws.apiKey}`, 'content-type': 'application/json' };
  const eventRequest = (tag: string, accepted: string[]) => {
    let n = 0;
    return {
      method: 'POST' as const,
      path: '/v1/events',
      headers,
      setupRequest: (req: autocannon.Request) => {
        n += 1;
        return {
          ...req,
          body: JSON.stringify({
            id: `bench-${tag}-${n}`,
            type: 'booking.status_changed',
            recordId: `lead-${n % 5000}`,
            properties: { status: 'completed', n },
          }),
        };
      },
      onResponse: (status: number, body: string) => {
        if (status === 202) accepted.push((JSON.parse(body) as { id: string }).id);
      },
    };
  };

  // Warm-up: JIT, pool connections, caches. Not counted in the figures.
  log('warm-up 3 s');
  const warm = await run('warm-up', { url, connections: CONNECTIONS, duration: 3, requests: [eventRequest(`warm-${ws.id}`, [])] });

  log(`POST /v1/events for ${DURATION} s, ${CONNECTIONS} connections over ${urls.length} API(s)`);
  const acceptedIds: string[] = [];
  const cpu0 = cpuSnapshot(cpu);
  const events = await run('POST /v1/events', { url, connections: CONNECTIONS, duration: DURATION, requests: [eventRequest(`run-${ws.id}`, acceptedIds)] });
  const cpu1 = cpuSnapshot(cpu);
  // Every id answered 202 must be stored, with its outbox row.
  const {
    rows: [stored],
  } = await sql<{ events: number; outbox: number }>`
    select (select count(*)::int from events where workspace_id = ${ws.id} and id = any(${acceptedIds})) as events,
           (select count(*)::int from outbox where workspace_id = ${ws.id} and kind = 'event' and payload->'event'->>'id' = any(${acceptedIds})) as outbox`.execute(
    db,
  );

  let m = 0;
  const acceptedStages: string[] = [];
  const recordRequest = {
    method: 'PUT' as const,
    headers,
    setupRequest: (req: autocannon.Request) => {
      m += 1;
      return { ...req, path: `/v1/records/rec-${m % 5000}`, body: JSON.stringify({ stage: `stage-${m}`, attributes: { plan: m % 2 ? 'pro' : 'free', n: m } }) };
    },
    onResponse: (status: number, body: string) => {
      if (status === 200 || status === 201) acceptedStages.push((JSON.parse(body) as { stage: string }).stage);
    },
  };
  log(`PUT /v1/records/{id} for ${DURATION} s, ${CONNECTIONS} connections over ${urls.length} API(s)`);
  const records = await run('PUT /v1/records/{id}', { url, connections: CONNECTIONS, duration: DURATION, requests: [recordRequest] });
  const cpu2 = cpuSnapshot(cpu);
  const {
    rows: [changes],
  } = await sql<{ n: number }>`
    select count(*)::int as n from outbox where workspace_id = ${ws.id} and kind = 'record_changed' and payload->'changes'->>'stage' = any(${acceptedStages})`.execute(
    db,
  );
  // CPU seconds between snapshots -> ms per request.
  const perRequest = (a: Record<string, number | undefined>, b: Record<string, number | undefined>, n: number) =>
    Object.fromEntries(Object.entries(coresUsed(a, b, Math.max(1, n))).map(([k, v]) => [k, v === undefined ? undefined : v * 1000]));
  return {
    warm,
    events,
    records,
    cpuEvents: perRequest(cpu0, cpu1, events.requests),
    cpuRecords: perRequest(cpu1, cpu2, records.requests),
    accepted: acceptedIds.length,
    stored: stored!.events,
    withOutbox: outbox ? stored!.outbox : undefined,
    recordsAccepted: acceptedStages.length,
    recordsWithOutbox: outbox ? changes!.n : undefined,
    load: [load0, loadAverage()],
  };
}

/** The reference: the API (under tsx) in a child process on the private PostgreSQL, no Temporal server, no worker. */
async function onPrivatePostgres(log: (line: string) => void): Promise<{ m: Measured; pgSettings: Record<string, string> }> {
  let databaseUrl = process.env.BENCH_DATABASE_URL;
  let stopPg: (() => Promise<void>) | undefined;
  if (!databaseUrl) {
    const settings = loadProvisionSettings();
    const pg = await startLocalPostgres({ root: join(settings.dataDir, 'postgres'), port: settings.pgPort, anyPort: true, log });
    if (pg.owned) stopPg = pg.stop;
    databaseUrl = pg.url('followup_bench');
  }
  await recreateDatabase(databaseUrl, 'BENCH_DATABASE_URL');
  const db = createDb(databaseUrl, { max: 2 });
  await migrateToLatest(db);
  // The bench measures the process, not the per-key limit (RATE_LIMIT_PER_MINUTE would cap it at 200/s).
  const ws = await createWorkspaceWithKey(db, { name: 'bench', rateLimitPerMinute: 10_000_000 });
  const { rows: settingsRows } = await sql<{ name: string; setting: string }>`
    select name, setting from pg_settings where name in ('synchronous_commit', 'fsync', 'shared_buffers', 'max_connections', 'server_version')`.execute(db);
  const pgSettings = Object.fromEntries(settingsRows.map((r) => [r.name, r.setting]));

  const port = await freePort();
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], {
    // BENCH_CPU_PROF=<dir>: write a V8 CPU profile of the API process there.
    execArgv: ['--import', 'tsx', ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [])],
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      LOG_LEVEL: 'silent',
      NODE_ENV: 'production',
      SECRETS_KEY: randomBytes(48).toString('base64'),
      DATABASE_POOL_SIZE: String(POOL),
      RATE_LIMIT_PER_MINUTE: '100000000',
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const childExit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      void childExit.then((code) => reject(new Error(`the API exited (code ${code}) before it was ready`)));
    });
    const url = `http://127.0.0.1:${port}`;
    await waitFor('the API', async () => ((await fetch(`${url}/healthz`)).ok ? true : undefined), { timeoutMs: 30_000 });
    log(
      `API on ${url}, PostgreSQL ${databaseUrl.replace(/\/\/[^@]*@/, '//')} (synchronous_commit=${pgSettings.synchronous_commit}), ${cpus().length} CPUs, load ${loadAverage()}`,
    );
    const postgres = await postmasterPid(db);
    const m = await measure(
      [url],
      db,
      ws,
      { API: () => cpuSeconds(child.pid), PostgreSQL: () => cpuSeconds(postgres, true), autocannon: ownCpuSeconds },
      true,
      log,
    );
    return { m, pgSettings };
  } finally {
    child.kill('SIGTERM');
    await childExit;
    await db.destroy();
    await stopPg?.();
  }
}

/** Each route's load result with its CPU ms per request. */
const routes = (m: Measured): Array<[RunResult, Record<string, number | undefined>]> => [
  [m.events, m.cpuEvents],
  [m.records, m.cpuRecords],
];

const lostLine = (m: Measured) =>
  `${m.accepted} events answered 202, ${m.stored} of them stored` +
  (m.withOutbox === undefined ? '' : ` and ${m.withOutbox} with their outbox row`) +
  ` -> **${m.accepted - m.stored} lost**` +
  (m.withOutbox === undefined ? '' : ` (${m.accepted - m.withOutbox} without outbox row)`) +
  `; ${m.recordsAccepted} record upserts answered 2xx` +
  (m.recordsWithOutbox === undefined
    ? ''
    : `, ${m.recordsWithOutbox} with their record_changed outbox row -> **${m.recordsAccepted - m.recordsWithOutbox} lost**`);

const lost = (m: Measured) =>
  m.accepted - m.stored + (m.withOutbox === undefined ? 0 : m.accepted - m.withOutbox) + (m.recordsAccepted - (m.recordsWithOutbox ?? m.recordsAccepted));

/** The default run: the "API ingestion" section. */
async function onDevOnly(log: (line: string) => void): Promise<{ section: string[]; failed: boolean; figures: unknown }> {
  const { m, pgSettings } = await onPrivatePostgres(log);
  const rows = routes(m).map(
    ([r, c]) =>
      `| ${r.name} | ${r.rps} | ${r.p50} | ${r.p90} | ${r.p99} | ${r.max} | ${r.ok} | ${r.non2xx + r.errors + r.timeouts} | ${c.API?.toFixed(2) ?? 'n/a'} | ${c.PostgreSQL?.toFixed(2) ?? 'n/a'} |`,
  );
  const section = [
    '## API ingestion (`npm run bench:api`)',
    '',
    `Run ${new Date().toISOString()}: ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? 'unknown'}), load average at the end ${m.load[1]}; PostgreSQL ${pgSettings.server_version} on the same box (synchronous_commit=${pgSettings.synchronous_commit}, fsync=${pgSettings.fsync}); ` +
      `API pool ${POOL} connections, logging off; autocannon ${CONNECTIONS} connections in the same box, ${DURATION} s per route after a 3 s warm-up (${m.warm.requests} requests, not counted).`,
    '',
    '| route | req/s | p50 ms | p90 ms | p99 ms | max ms | accepted (2xx) | failed | API CPU ms/req | PostgreSQL CPU ms/req |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    `Durability, checked in PostgreSQL afterwards by id: ${lostLine(m)}.`,
    '',
    '### Reading these figures',
    '',
    '- req/s and latency depend on what else runs on the box: autocannon, the API and PostgreSQL share its CPUs, and',
    '  any other load (test suites, Temporal dev servers, compilers) takes from all three. Check the load average above.',
    '- The CPU columns do not: they are the CPU time the API process and the PostgreSQL cluster (postmaster and',
    '  backends, read from /proc) spent per request during the run. With C CPUs and nothing else running, the ceiling',
    '  is about C x 1000 / (API + PostgreSQL + client CPU ms per request) requests per second.',
    '- An event is one SQL statement, `select followup_ingest_events($1, $2)`: a PL/pgSQL function (plan cached per',
    '  connection) that inserts the event, a bare record when the id is unknown, the outbox row and NOTIFYs the router.',
    '  A record upsert is a transaction of five round trips (select for update, update, outbox insert, NOTIFY, commit).',
    '- `POST /v1/events/batch` takes up to 1,000 events in one statement; it is the way to go beyond the single-event figure.',
  ];
  return { section, failed: lost(m) !== 0, figures: m };
}

/** `--target cluster`: the reference above, then the production shape with 1, then 2 APIs taking the load; the "API ingestion on the production shape" section. */
async function onCluster(apiCounts: number[], log: (line: string) => void): Promise<{ section: string[]; failed: boolean; figures: unknown }> {
  const columns: Array<{ label: string; m: Measured }> = [];
  const ref = await onPrivatePostgres(log);
  columns.push({ label: 'one API (tsx), PostgreSQL only', m: ref.m });
  log(`the production shape: Temporal server on PostgreSQL, ${Math.max(...apiCounts)} APIs, 2 workers`);
  const c = await startBenchCluster({ apis: Math.max(...apiCounts), workers: 2, env: { DATABASE_POOL_SIZE: String(POOL) } });
  try {
    const ws = await createWorkspaceWithKey(c.db, { name: 'bench', rateLimitPerMinute: 10_000_000 });
    const postgres = await postmasterPid(c.db);
    for (const n of apiCounts) {
      const apis = c.services.filter((s) => s.kind === 'api').slice(0, n);
      const cpu: CpuParts = {};
      for (const a of apis) cpu[a.name] = () => cpuSeconds(a.proc.child.pid);
      cpu.PostgreSQL = () => cpuSeconds(postgres, true);
      for (const w of c.services.filter((s) => s.kind === 'worker')) cpu[w.name] = () => cpuSeconds(w.proc.child.pid);
      cpu.temporal = () => cpuSeconds(c.temporal.process.child.pid);
      cpu.autocannon = ownCpuSeconds;
      const m = await measure(
        apis.map((a) => `http://127.0.0.1:${a.port}`),
        c.db,
        ws,
        cpu,
        false,
        log,
      );
      columns.push({ label: `cluster, ${n} API${n > 1 ? 's' : ''} (compiled), 2 workers`, m });
    }
  } finally {
    await c.stop();
  }
  const fmtMs = (x: Record<string, number | undefined>) => {
    const total = Object.values(x).reduce<number>((a, v) => a + (v ?? 0), 0);
    return `${Object.entries(x)
      .map(([k, v]) => `${k} ${v === undefined ? 'n/a' : v.toFixed(2)}`)
      .join(', ')}; **total ${total.toFixed(2)}** (${cpus().length} cores / total = ${Math.round((cpus().length * 1000) / total)} req/s)`;
  };
  const rows = columns.flatMap(({ label, m }) =>
    routes(m).map(
      ([r, cpu]) =>
        `| ${label} | ${r.name} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.ok} | ${r.non2xx + r.errors + r.timeouts} | ${fmtMs(cpu)} | ${m.load[0]} -> ${m.load[1]} |`,
    ),
  );
  const section = [
    '## API ingestion on the production shape (`npm run bench:api -- --target cluster`)',
    '',
    `Run ${new Date().toISOString()}: ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? 'unknown'}), PostgreSQL ${ref.pgSettings.server_version} (synchronous_commit=${ref.pgSettings.synchronous_commit}); ` +
      `each target in turn, in one run, with the same load: autocannon ${CONNECTIONS} connections (spread over the APIs) in the benchmark process, ${DURATION} s per route after a 3 s warm-up; API pool ${POOL} connections. ` +
      "First the reference of the section above (the API under tsx in a child process, its own PostgreSQL, nothing else running); then the production shape started by the fault tests' launcher (test/faults/cluster.ts): " +
      "a PostgreSQL of its own holding the service database and the Temporal server's (1.29, deploy/temporal/cluster.yaml), compiled APIs (`dist/api.js`, logging at warn) and two compiled workers whose outbox routers consume what the APIs write, as in production.",
    '',
    `| target | route | req/s | p50 ms | p99 ms | accepted (2xx) | failed | CPU ms per request, by process | load average, start -> end |`,
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |',
    ...rows,
    '',
    ...columns.map(({ label, m }) => `Durability, ${label}: ${lostLine(m)}.`),
    '',
    'The CPU column is each process\'s CPU time per request from /proc ("PostgreSQL" is the postmaster and its backends, serving the API, the routers and the Temporal server alike); ' +
      'the figure in brackets is the ceiling those costs give on this machine with nothing else running. On the cluster the routers delete outbox rows as they route them, so only the events themselves are counted there.',
  ];
  return { section, failed: columns.some(({ m }) => lost(m) !== 0), figures: columns };
}

async function main(): Promise<void> {
  const log = (line: string) => process.stdout.write(`[bench] ${line}\n`);
  const { values: args } = parseArgs({ options: { target: { type: 'string', default: 'dev' }, apis: { type: 'string', default: '1,2' } } });
  if (args.target !== 'dev' && args.target !== 'cluster') throw new Error(`--target: dev or cluster, not ${args.target}`);
  const apiCounts = args.apis.split(',').map(Number);
  if (apiCounts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--apis: API counts such as 1,2, not ${args.apis}`);
  const { section, failed, figures } = args.target === 'cluster' ? await onCluster(apiCounts, log) : await onDevOnly(log);
  await writeBenchmarkSection(args.target === 'cluster' ? 'api-cluster' : 'api', section, log);
  process.stdout.write(`\n${section.join('\n')}\n\n${JSON.stringify({ bench: args.target === 'cluster' ? 'api-cluster' : 'api', figures })}\n`);
  if (failed) process.exitCode = 1;
}

if (process.argv.includes('--serve')) {
  await serve();
} else {
  await main().catch((err: unknown) => {
    process.stderr.write(`bench:api: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    void stopAllProcesses().finally(() => process.exit(1));
  });
}
