/**
 * `npm run bench:activate [-- --records N --sweep-records M]`: bulk activation and the sweep's
 * candidate queries at scale (docs/design.md §4.5, activation with `onlyNew`; §6.7, sweeps).
 *
 *   (1) The date/inactivity sweep's candidate queries (db/sweeps.ts `dateCandidates`,
 *       `inactivityCandidates`, exactly as the sweep activity calls them) reading every page of
 *       the 1,000 due records of a workspace of 10,000 records, then of M (default 100,000), then
 *       of M with the query's index dropped (in a transaction that is rolled back), side by side,
 *       each with EXPLAIN (ANALYZE, BUFFERS) of its first page.
 *   (2) `POST /v1/automations/{id}/activate { onlyNew: false }` for a `stage_entered` automation
 *       whose stage N records (default 100,000) are already in: the router's backfill enrolls
 *       them all. Each workflow's first step waits 30 days, so the run measures starting, not
 *       sending. Enrollments per second, time until the backfill reports done (every workflow
 *       start returned), and the RSS of the API (this process), the worker (its own process) and
 *       the Temporal dev server, read from /proc every second.
 *
 * Records and last events are written with one INSERT ... SELECT generate_series each (the import
 * is not measured). Provisions like `npm test` (bench/support.ts); writes the "Bulk activation"
 * section of docs/benchmarks.md with the load average at the start and end, and prints the figures as JSON.
 */
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import {
  QueryNode,
  SelectQueryNode,
  sql,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type UnknownRow,
  type RootOperationNode,
} from 'kysely';
import type { Db } from '#db/connection';
import { dateCandidates, dateIndexName, ensureDateIndex, inactivityCandidates } from '#db/sweeps';
import { createWorkspaceWithKey } from '#db/workspaces';
import { dateValueRange, inactivityEventRange, type DateTrigger, type InactivityTrigger } from '#domain/occurrences';
import { count, loadAverage, provision, rssMiB, startBenchApi, startWorkerChild, until, writeBenchmarkSection } from './support';

const log = (line: string) => process.stderr.write(`[bench:activate] ${line}\n`);
const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '100000' },
    'sweep-records': { type: 'string', default: '100000' },
    // A time box for a shared machine: past it the run stops waiting and reports how far it got.
    'max-seconds': { type: 'string', default: String(4 * 3600) },
  },
});
const N = Number(args.records);
const MAX_MS = Number(args['max-seconds']) * 1000;
const SWEEP_N = Number(args['sweep-records']);
const SWEEP_SMALL = 10_000;
const DUE = 1_000;
/** The sweep activity's default page size (engine/sweeper.ts). */
const PAGE = 500;
const REPEAT = 15;
const DAY = 86_400_000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Turns every SELECT into EXPLAIN (ANALYZE, BUFFERS) of itself and keeps the plans (the caller gets no rows). */
class ExplainAnalyze implements KyselyPlugin {
  readonly plans: string[][] = [];
  transformQuery({ node }: PluginTransformQueryArgs): RootOperationNode {
    return SelectQueryNode.is(node) ? QueryNode.cloneWithExplain(node, undefined, sql`analyze, buffers`) : node;
  }
  async transformResult({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    this.plans.push(result.rows.map((r) => String(r['QUERY PLAN'])));
    return { ...result, rows: [] };
  }
}

/** A plan's nodes, outermost first, without their costs: `Limit > Index Scan using x on records r`. */
function planNodes(plan: string[]): string {
  return plan
    .filter((l, i) => i === 0 || l.includes('->'))
    .map((l) => l.replace(/^\s*(->\s*)?/, '').replace(/\s*\(cost=.*$/, ''))
    .join(' > ');
}

/** One of the sweep's candidate queries, paged as the sweep activity pages it. */
interface SweepQuery<T> {
  label: string;
  index: string;
  page(db: Db, after: T | undefined): Promise<T[]>;
}

interface QueryFigures {
  rows: number;
  pages: number;
  medianMs: number;
  plan: string[];
  indexUsed: boolean;
  /** From the first page's plan: PostgreSQL's own execution time, and the pages (buffers) it touched. */
  executionMs: number;
  buffers: number;
}

async function measureQuery<T>(db: Db, q: SweepQuery<T>): Promise<QueryFigures> {
  const readAll = async () => {
    let rows = 0;
    let pages = 0;
    let after: T | undefined;
    for (;;) {
      const page = await q.page(db, after);
      rows += page.length;
      pages++;
      if (page.length < PAGE) return { rows, pages };
      after = page[page.length - 1];
    }
  };
  await readAll(); // warm the cache and the plan
  const times: number[] = [];
  let read = { rows: 0, pages: 0 };
  for (let i = 0; i < REPEAT; i++) {
    const t0 = performance.now();
    read = await readAll();
    times.push(performance.now() - t0);
  }
  const explain = new ExplainAnalyze();
  await q.page(db.withPlugin(explain), undefined);
  const plan = explain.plans[0] ?? [];
  // The top node's buffers are the whole query's; hit and read (from disk) both count.
  const top = /Buffers: (.*)/.exec(plan.find((l) => l.includes('Buffers:')) ?? '')?.[1] ?? '';
  return {
    ...read,
    medianMs: median(times),
    plan,
    indexUsed: plan.some((l) => l.includes(q.index)),
    executionMs: Number(/Execution Time: ([\d.]+) ms/.exec(plan.join('\n'))?.[1] ?? NaN),
    buffers: [...top.matchAll(/(?:hit|read)=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0),
  };
}

async function main(): Promise<void> {
  const load0 = loadAverage();
  const infra = await provision('followup_bench_activate', log);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    SECRETS_KEY: 'bench-activate-secrets-key-0123456789abcdef',
    DATABASE_URL: infra.databaseUrl,
    TEMPORAL_ADDRESS: infra.temporalAddress,
    TEMPORAL_TASK_QUEUE: 'bench-activate',
    RATE_LIMIT_PER_MINUTE: '100000000',
  };
  const api = await startBenchApi(env, 'activate');
  const { db, call } = api;
  log(`Temporal ${infra.temporalAddress}, PostgreSQL ${infra.databaseUrl.replace(/\/\/[^@]*@/, '//')}`);
  try {
    // (1) The sweep's queries, in a workspace of their own, while nothing else of this run works.
    const ws = (await createWorkspaceWithKey(db, { name: `bench-activate-sweep-${Date.now()}` })).id;
    const now = new Date();
    const from = new Date(now.getTime() - 5 * 60_000); // one default SWEEP_INTERVAL
    const dateTrigger: DateTrigger = { type: 'date', field: 'record.attributes.renewal_date', offset: '-P7D', at: '09:00' };
    const inactivity: InactivityTrigger = { type: 'inactivity', event: 'booking.completed', after: 'P60D' };
    const path = ['renewal_date'];
    const dateRange = dateValueRange(dateTrigger, from, now);
    const eventRange = inactivityEventRange(inactivity, from, now);
    // Due: renewal in 7 days, last booking 60 days ago. The rest: renewals 30 to 730 days away,
    // last bookings within the last 50 days.
    const dueDay = new Date(now.getTime() + 7 * DAY).toISOString().slice(0, 10);
    const insertSweepRecords = async (lo: number, hi: number) => {
      await sql`
        insert into records (workspace_id, external_id, email, name, attributes, unsubscribed, created_at, updated_at)
        select ${ws}, 's-' || lpad(i::text, 6, '0'), 's' || i || '@example.com', 'Record ' || i,
          jsonb_build_object('renewal_date', case when i < ${DUE} then ${dueDay}
            else to_char(${now}::timestamptz + make_interval(days => 30 + i % 700), 'YYYY-MM-DD') end),
          '{}', now(), now()
        from generate_series(${lo}::int, ${hi - 1}::int) as i`.execute(db);
      await sql`
        insert into record_last_events (workspace_id, type, record_id, event_id, occurred_at)
        select ${ws}, ${inactivity.event}, 's-' || lpad(i::text, 6, '0'), 'bk-' || i,
          case when i < ${DUE} then ${now}::timestamptz - interval '60 days'
            else ${now}::timestamptz - make_interval(days => i % 50, hours => 1) end
        from generate_series(${lo}::int, ${hi - 1}::int) as i`.execute(db);
      await sql`analyze records`.execute(db);
      await sql`analyze record_last_events`.execute(db);
    };
    type DatePage = Awaited<ReturnType<typeof dateCandidates>>[number];
    type EventPage = Awaited<ReturnType<typeof inactivityCandidates>>[number];
    const dateQuery: SweepQuery<DatePage> = {
      label: `date (\`${dateTrigger.field}\`, offset ${dateTrigger.offset}): dateCandidates`,
      index: dateIndexName(path),
      page: (d, after) =>
        dateCandidates(d, ws, { path, ...dateRange, cursor: after ? { value: after.value, recordId: after.record.external_id } : null, limit: PAGE }),
    };
    const eventQuery: SweepQuery<EventPage> = {
      label: `inactivity (\`${inactivity.event}\`, after ${inactivity.after}): inactivityCandidates`,
      index: 'record_last_events_due',
      page: (d, after) =>
        inactivityCandidates(d, ws, {
          type: inactivity.event,
          ...eventRange,
          cursor: after ? { occurredAt: after.occurredAt.toISOString(), recordId: after.record.external_id } : null,
          limit: PAGE,
        }),
    };
    const sweep: Record<string, { date: QueryFigures; inactivity: QueryFigures }> = {};
    const measureBoth = async (d: Db, key: string) => {
      sweep[key] = { date: await measureQuery(d, dateQuery), inactivity: await measureQuery(d, eventQuery) };
      log(`sweep ${key}: date ${sweep[key].date.medianMs.toFixed(2)} ms, inactivity ${sweep[key].inactivity.medianMs.toFixed(2)} ms`);
    };
    log(`sweep: ${SWEEP_SMALL} records, ${DUE} due`);
    await insertSweepRecords(0, SWEEP_SMALL);
    await ensureDateIndex(db, path);
    await measureBoth(db, 'small');
    log(`sweep: ${SWEEP_N} records, ${DUE} due`);
    await insertSweepRecords(SWEEP_SMALL, SWEEP_N);
    await measureBoth(db, 'large');
    // The same queries without their index: dropped inside a transaction that is rolled back.
    await db
      .transaction()
      .execute(async (trx) => {
        await sql`drop index ${sql.id(dateQuery.index)}`.execute(trx);
        await sql`drop index ${sql.id(eventQuery.index)}`.execute(trx);
        await measureBoth(trx, 'noIndex');
        throw new Rollback();
      })
      .catch((err: unknown) => {
        if (!(err instanceof Rollback)) throw err;
      });

    // (2) Bulk activation.
    log(`activation: ${N} records in the stage`);
    await sql`
      insert into records (workspace_id, external_id, email, name, timezone, stage, attributes, unsubscribed, created_at, updated_at)
      select ${api.workspaceId}, 'r-' || lpad(i::text, 6, '0'), 'r' || i || '@example.com', 'Record ' || i, 'UTC', 'lapsed', '{}', '{}', now(), now()
      from generate_series(0, ${N - 1}::int) as i`.execute(db);
    await sql`analyze records`.execute(db);
    await call('POST', '/v1/templates', {
      id: 'tpl_bulk',
      name: 'bulk',
      channel: 'email',
      content: { subject: 'Hi {{ record.name }}', text: 'Hi', html: '<p>Hi</p>' },
    });
    const { id } = (await call('POST', '/v1/automations', {
      name: 'Win back the lapsed',
      trigger: { type: 'stage_entered', stage: 'lapsed' },
      steps: [
        { id: 'rest', type: 'wait', duration: 'P30D' },
        { id: 'hello', type: 'email', to: 'record', template: 'tpl_bulk' },
      ],
    })) as { id: string };
    const enrolled = () =>
      count(db, sql<{ n: number }>`select count(*)::int as n from enrollments where workspace_id = ${api.workspaceId} and automation_id = ${id}`);

    const worker = await startWorkerChild(env);
    const pids = { api: process.pid, worker: worker.child.pid, temporal: infra.pids.temporal };
    const before = { api: await rssMiB(pids.api), worker: await rssMiB(pids.worker), temporal: await rssMiB(pids.temporal) };
    const peak = { ...before };
    const progress: Array<{ at: number; n: number }> = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const k of ['api', 'worker', 'temporal'] as const) {
          const mib = await rssMiB(pids[k]);
          if (mib !== undefined) peak[k] = Math.max(peak[k] ?? 0, mib);
        }
        await new Promise((r) => setTimeout(r, 1_000));
      }
    })();
    let t0 = 0;
    let done = 0;
    let finished = false;
    try {
      t0 = Date.now();
      await call('POST', `/v1/automations/${id}/activate`, { onlyNew: false });
      done = await until(
        'the backfill done',
        async () => {
          progress.push({ at: Date.now(), n: await enrolled() });
          const a = (await call('GET', `/v1/automations/${id}`, undefined)) as { backfill?: { status: string; enrolled: number } };
          if (progress.length % 30 === 0) log(`activation: ${progress.at(-1)!.n} enrolled after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
          finished = a.backfill?.status === 'done';
          return finished || Date.now() - t0 > MAX_MS;
        },
        MAX_MS + 60_000,
        2_000,
      );
    } finally {
      sampling = false;
      await sampler;
      await worker.stop().catch(() => worker.child.kill('SIGKILL'));
    }
    const seconds = (done - t0) / 1000;
    const rows = await enrolled();
    const lo = progress.find((p) => p.n >= rows * 0.1);
    const hi = progress.find((p) => p.n >= rows * 0.9);
    const steady = lo && hi && hi.at > lo.at ? (hi.n - lo.n) / ((hi.at - lo.at) / 1000) : undefined;
    const listed = (await api.temporal.workflow.count(`AutomationId = "${id}"`)).count;
    const load1 = loadAverage();
    const activation = {
      records: N,
      finished,
      enrolled: rows,
      seconds,
      perSecond: rows / seconds,
      steadyPerSecond: steady,
      workflowsListed: listed,
      rssMiB: { before, peak },
    };
    log(`activation: ${rows} in ${seconds.toFixed(1)} s (${activation.perSecond.toFixed(1)}/s); workflows listed ${listed}`);

    const ratio = (a: number, b: number) => `× ${(a / b).toFixed(1)}`;
    const sweepRows = (q: 'date' | 'inactivity', label: string) => {
      const base = sweep.small![q];
      const row = (size: number, variant: string, f: QueryFigures) =>
        `| ${label} | ${size} | ${variant} | ${f.rows} / ${f.pages} | ${f.medianMs.toFixed(1)} (${ratio(f.medianMs, base.medianMs)}) | ${f.executionMs.toFixed(2)} (${ratio(f.executionMs, base.executionMs)}) | ${f.buffers} (${ratio(f.buffers, base.buffers)}) | ${f.indexUsed ? 'yes' : 'no'}: ${planNodes(f.plan)} |`;
      return [row(SWEEP_SMALL, 'index', base), row(SWEEP_N, 'index', sweep.large![q]), row(SWEEP_N, '**dropped**', sweep.noIndex![q])];
    };
    const planBlock = (title: string, plan: string[]) => [`${title}:`, '', '```', ...plan, '```', ''];
    const rss = (k: keyof typeof before) => `${before[k]?.toFixed(0) ?? 'n/a'} -> **${peak[k]?.toFixed(0) ?? 'n/a'}**`;
    const lines = [
      '## Bulk activation and the sweep queries (`npm run bench:activate`)',
      '',
      `Measured ${new Date().toISOString()} on ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}; ` +
        'a private Temporal dev server (in memory) and PostgreSQL on the same machine, shared with other work (see the load average).',
      '',
      `- load average (1 / 5 / 15 min) at the start: ${load0}`,
      `- load average (1 / 5 / 15 min) at the end: ${load1}`,
      '',
      `### Bulk activation of ${N.toLocaleString('en')} records (\`onlyNew: false\`)`,
      '',
      '| measure | result |',
      '| --- | --- |',
      `| records in the stage / enrollment rows / workflows listed on the server | ${N} / ${rows} / ${listed} |`,
      finished
        ? `| time from the activate request until the backfill reports done (every start returned) | **${seconds.toFixed(1)} s** |`
        : `| time from the activate request until the backfill reports done (every start returned) | **not reached**: stopped at the --max-seconds limit after ${seconds.toFixed(1)} s with ${rows} of ${N} enrolled |`,
      `| enrollments per second, overall | **${activation.perSecond.toFixed(1)}** |`,
      `| enrollments per second, steady (10% -> 90% of the rows made) | ${steady === undefined ? 'n/a' : steady.toFixed(1)} |`,
      `| RSS MiB before -> peak, API (the benchmark process) | ${rss('api')} |`,
      `| RSS MiB before -> peak, worker | ${rss('worker')} |`,
      `| RSS MiB before -> peak, Temporal dev server | ${rss('temporal')} |`,
      '',
      "The automation is `stage_entered` on the records' stage, first step `wait P30D`: the router's backfill (engine/router.ts) reads the stage 500 records a page, " +
        "writes each enrollment row and starts its workflow, 64 at a time; the worker runs each new workflow's first task meanwhile, on the same CPUs. " +
        '"Done" is `GET /v1/automations/{id}` reporting `backfill.status: done`, polled every 2 s. RSS is VmRSS from /proc/<pid>/status read every second; ' +
        '"before" is after the worker started, before the activate request. The API runs inside the benchmark process, so its figure also holds the polling.',
      '',
      `### The sweep's candidate queries: ${DUE.toLocaleString('en')} due among ${SWEEP_SMALL.toLocaleString('en')} and ${SWEEP_N.toLocaleString('en')} records`,
      '',
      `For each query: rows / pages read (${PAGE} a page, the sweep activity's size); the median wall time in this process to read every page, over ${REPEAT} runs after a warm-up ` +
        "(noisy on a shared machine); and from EXPLAIN (ANALYZE, BUFFERS) of the first page, PostgreSQL's execution time and the buffers (8 kB pages) it touched, which do not depend on the load. " +
        `In brackets: the ratio to the same query over ${SWEEP_SMALL.toLocaleString('en')} records with its index. The span swept is one default SWEEP_INTERVAL (5 minutes).`,
      '',
      "| query | records | index | rows / pages | ms, all pages (median) | first page: execution ms | first page: buffers | index used: the plan's nodes |",
      '| --- | ---: | --- | --- | ---: | ---: | ---: | --- |',
      ...sweepRows('date', 'date: dateCandidates'),
      ...sweepRows('inactivity', 'inactivity: inactivityCandidates'),
      '',
      `The triggers: \`${JSON.stringify(dateTrigger)}\` (${DUE} records renew in 7 days, the rest in 30 to 730 days) and \`${JSON.stringify(inactivity)}\` (${DUE} records booked last 60 days ago, the rest within 50 days).`,
      '',
      `The date query reads \`${dateQuery.index}\` (the expression index \`ensureDateIndex\` builds on (workspace_id, attributes #>> '{renewal_date}', external_id)); ` +
        "the inactivity query reads `record_last_events_due` (workspace_id, type, occurred_at, record_id). Without them (dropped in a transaction, rolled back) PostgreSQL must read the workspace's rows. " +
        'EXPLAIN (ANALYZE, BUFFERS) of the first page of each, at the larger size:',
      '',
      ...planBlock(`Date, ${SWEEP_N} records, with the index`, sweep.large!.date.plan),
      ...planBlock(`Date, ${SWEEP_N} records, index dropped`, sweep.noIndex!.date.plan),
      ...planBlock(`Inactivity, ${SWEEP_N} records, with the index`, sweep.large!.inactivity.plan),
      ...planBlock(`Inactivity, ${SWEEP_N} records, index dropped`, sweep.noIndex!.inactivity.plan),
    ];
    await writeBenchmarkSection('activate', lines, log);
    const brief = ({ plan: _plan, ...f }: QueryFigures) => f;
    process.stdout.write(
      `${JSON.stringify({
        bench: 'activate',
        activation,
        sweep: Object.fromEntries(Object.entries(sweep).map(([k, v]) => [k, { date: brief(v.date), inactivity: brief(v.inactivity) }])),
        loadAverage: [load0, load1],
      })}\n`,
    );
  } finally {
    await api.close();
    await infra.stop();
  }
}

class Rollback extends Error {}

main().catch((err: unknown) => {
  process.stderr.write(`bench:activate failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
