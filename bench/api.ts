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
 */
import { randomBytes } from 'node:crypto';
import { fork } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
// @ts-expect-error autocannon publishes no types; the little used here is typed below.
import autocannonUntyped from 'autocannon';
import { sql } from 'kysely';
import { Client, Connection } from '@temporalio/client';
import { createDb } from '../db/connection';
import { migrateToLatest } from '../db/migrate';
import { createWorkspaceWithKey } from '../db/workspaces';
import { loadConfig } from '../services/common/config';
import { freePort, waitFor } from '../scripts/provision/proc';
import { loadProvisionSettings, REPO_ROOT } from '../scripts/provision/settings';
import { recreateDatabase, startLocalPostgres } from '../scripts/provision/postgres';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const POOL = Number(process.env.BENCH_POOL_SIZE ?? 20);
const DOC = join(REPO_ROOT, 'docs', 'benchmarks.md');
const START = '<!-- bench:api:start -->';
const END = '<!-- bench:api:end -->';

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
    url: string;
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
  const { buildApp } = await import('../services/api/app');
  const config = loadConfig();
  const db = createDb(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE });
  const temporal = new Client({ connection: Connection.lazy({ address: config.TEMPORAL_ADDRESS }) });
  const app = await buildApp({ db, temporal, config, logger: false });
  await app.listen({ host: '127.0.0.1', port: config.PORT });
  process.send?.('ready');
  // The parent asks for CPU time between phases: API CPU per request, whatever else runs on the box.
  process.on('message', (msg) => {
    if (msg === 'cpu') process.send?.({ cpu: process.cpuUsage() });
  });
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

/**
 * CPU time (ms) used so far by the PostgreSQL cluster serving `db`: the postmaster and all its
 * children, from /proc (PostgreSQL on this box). Undefined when /proc cannot tell.
 */
async function pgCpuMs(db: ReturnType<typeof createDb>): Promise<number | undefined> {
  try {
    const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db);
    const stat = async (pid: number | string) => (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /, '').split(' ');
    const postmaster = Number((await stat(rows[0]!.pid))[1]);
    const tick = 1000 / 100; // USER_HZ
    let total = 0;
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const f = await stat(entry).catch(() => undefined);
      if (!f || (Number(entry) !== postmaster && Number(f[1]) !== postmaster)) continue;
      // utime, stime of the process + cutime, cstime of its waited-for children (fields 14-17).
      total += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * tick;
    }
    return total;
  } catch {
    return undefined;
  }
}

function apiCpuMs(child: ReturnType<typeof fork>): Promise<number> {
  return new Promise((resolve) => {
    const onMessage = (msg: unknown) => {
      if (typeof msg === 'object' && msg && 'cpu' in msg) {
        child.off('message', onMessage);
        const { user, system } = (msg as { cpu: NodeJS.CpuUsage }).cpu;
        resolve((user + system) / 1000);
      }
    };
    child.on('message', onMessage);
    child.send('cpu');
  });
}

async function main(): Promise<void> {
  const log = (line: string) => process.stdout.write(`[bench] ${line}\n`);
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
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    void childExit.then((code) => reject(new Error(`the API exited (code ${code}) before it was ready`)));
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor('the API', async () => ((await fetch(`${url}/healthz`)).ok ? true : undefined), { timeoutMs: 30_000 });
  log(
    `API on ${url}, PostgreSQL ${databaseUrl.replace(/\/\/[^@]*@/, '//')} (synchronous_commit=${pgSettings.synchronous_commit}), ${cpus().length} CPUs, load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );

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
  const warm = await run('warm-up', { url, connections: CONNECTIONS, duration: 3, requests: [eventRequest('warm', [])] });

  log(`POST /v1/events for ${DURATION} s, ${CONNECTIONS} connections`);
  const acceptedIds: string[] = [];
  const cpu0 = await apiCpuMs(child);
  const pg0 = await pgCpuMs(db);
  const events = await run('POST /v1/events', { url, connections: CONNECTIONS, duration: DURATION, requests: [eventRequest('run', acceptedIds)] });
  const cpu1 = await apiCpuMs(child);
  const pg1 = await pgCpuMs(db);
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
  log(`PUT /v1/records/{id} for ${DURATION} s, ${CONNECTIONS} connections`);
  const records = await run('PUT /v1/records/{id}', { url, connections: CONNECTIONS, duration: DURATION, requests: [recordRequest] });
  const cpu2 = await apiCpuMs(child);
  const pg2 = await pgCpuMs(db);
  const {
    rows: [changes],
  } = await sql<{ n: number }>`
    select count(*)::int as n from outbox where workspace_id = ${ws.id} and kind = 'record_changed' and payload->'changes'->>'stage' = any(${acceptedStages})`.execute(
    db,
  );

  child.kill('SIGTERM');
  await childExit;
  await db.destroy();
  await stopPg?.();

  const lostEvents = acceptedIds.length - stored!.events;
  const lostEventOutbox = acceptedIds.length - stored!.outbox;
  const lostChanges = acceptedStages.length - changes!.n;
  const cpuPerEvent = (cpu1 - cpu0) / Math.max(1, events.requests);
  const cpuPerRecord = (cpu2 - cpu1) / Math.max(1, records.requests);
  const pgPer = (a: number | undefined, b: number | undefined, n: number) =>
    a === undefined || b === undefined ? 'n/a' : ((b - a) / Math.max(1, n)).toFixed(2);
  const rows = [[events, cpuPerEvent, pgPer(pg0, pg1, events.requests)] as const, [records, cpuPerRecord, pgPer(pg1, pg2, records.requests)] as const].map(
    ([r, c, p]) =>
      `| ${r.name} | ${r.rps} | ${r.p50} | ${r.p90} | ${r.p99} | ${r.max} | ${r.ok} | ${r.non2xx + r.errors + r.timeouts} | ${c.toFixed(2)} | ${p} |`,
  );
  const section = [
    START,
    '## API ingestion (`npm run bench:api`)',
    '',
    `Run ${new Date().toISOString()}: ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? 'unknown'}), load average at the end ${loadavg()
      .map((l) => l.toFixed(1))
      .join(
        ' / ',
      )}; PostgreSQL ${pgSettings.server_version} on the same box (synchronous_commit=${pgSettings.synchronous_commit}, fsync=${pgSettings.fsync}); ` +
      `API pool ${POOL} connections, logging off; autocannon ${CONNECTIONS} connections in the same box, ${DURATION} s per route after a 3 s warm-up (${warm.requests} requests, not counted).`,
    '',
    '| route | req/s | p50 ms | p90 ms | p99 ms | max ms | accepted (2xx) | failed | API CPU ms/req | PostgreSQL CPU ms/req |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    `Durability, checked in PostgreSQL afterwards by id: ${acceptedIds.length} events answered 202, ${stored!.events} of them stored and ${stored!.outbox} with their outbox row ` +
      `-> **${lostEvents} lost** (${lostEventOutbox} without outbox row); ${acceptedStages.length} record upserts answered 2xx, ${changes!.n} with their record_changed outbox row -> **${lostChanges} lost**.`,
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
    END,
  ].join('\n');

  const current = await readFile(DOC, 'utf8').catch(() => '# Benchmarks\n');
  const next =
    current.includes(START) && current.includes(END)
      ? current.slice(0, current.indexOf(START)) + section + current.slice(current.indexOf(END) + END.length)
      : `${current.trimEnd()}\n\n${section}\n`;
  await writeFile(DOC, next);
  process.stdout.write(`\n${section}\n\nwritten to ${DOC}\n`);
  if (lostEvents !== 0 || lostEventOutbox !== 0 || lostChanges !== 0) process.exitCode = 1;
}

if (process.argv.includes('--serve')) {
  await serve();
} else {
  await main().catch((err: unknown) => {
    process.stderr.write(`bench:api: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
