/**
 * What the benchmarks share: provisioning like `npm test` (a private Temporal dev server and a
 * fresh database on the local PostgreSQL cluster, unless BENCH_TEMPORAL_ADDRESS /
 * BENCH_DATABASE_URL name existing ones), the worker in a child process (bench/engine-worker.ts),
 * the API in this process with a fresh workspace, polling, and writing one section of docs/benchmarks.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Client, Connection } from '@temporalio/client';
import { sql } from 'kysely';
import { buildApp, type App } from '#services/api/app';
import { loadConfig, type Config } from '#platform/config';
import { createDb, type Db } from '#db/connection';
import { migrateToLatest } from '#db/migrate';
import { createWorkspaceWithKey } from '#db/workspaces';
import { startLocalPostgres } from '#scripts/provision/postgres';
import { loadProvisionSettings, REPO_ROOT } from '#scripts/provision/settings';
import { ensureTemporalCli, startTemporalDevServer } from '#scripts/provision/temporal';
import { freePort, stopAllProcesses } from '#scripts/provision/proc';
import { startCluster, type Cluster } from '../test/faults/cluster';

export interface Infra {
  databaseUrl: string;
  temporalAddress: string;
  /** Process ids whose CPU time a benchmark may read (absent when BENCH_* named servers we did not start). */
  pids: { postgres?: number; temporal?: number };
  stop(): Promise<void>;
}

export async function provision(database: string, log: (line: string) => void): Promise<Infra> {
  const settings = loadProvisionSettings();
  const stops: Array<() => Promise<unknown>> = [];
  const pids: Infra['pids'] = {};
  let databaseUrl = process.env.BENCH_DATABASE_URL;
  if (!databaseUrl) {
    const root = join(settings.dataDir, 'postgres');
    const local = await startLocalPostgres({ root, port: settings.pgPort, anyPort: true, log });
    if (local.owned) stops.push(local.stop);
    databaseUrl = local.url(database);
    const admin = new pg.Client({ connectionString: local.url('postgres') });
    await admin.connect();
    await admin.query(`drop database if exists ${database} with (force)`);
    await admin.query(`create database ${database}`);
    await admin.end();
    const postmaster = Number((await readFile(join(root, 'data', 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
    if (postmaster > 0) pids.postgres = postmaster;
  }
  let temporalAddress = process.env.BENCH_TEMPORAL_ADDRESS;
  if (!temporalAddress) {
    const cli = await ensureTemporalCli(settings.toolsDir, log);
    const dir = join(settings.dataDir, 'bench');
    await mkdir(dir, { recursive: true });
    const server = await startTemporalDevServer({
      cli,
      port: await freePort(),
      logFile: join(dir, `temporal-${database}.log`),
      anyPort: true,
      portVar: 'BENCH_TEMPORAL_PORT',
      uiPortVar: 'BENCH_TEMPORAL_UI_PORT',
      log,
    });
    stops.push(server.stop);
    temporalAddress = server.address;
    if (server.process.child.pid) pids.temporal = server.process.child.pid;
  }
  return {
    databaseUrl,
    temporalAddress,
    pids,
    stop: async () => {
      for (const s of stops.reverse()) await s().catch(() => undefined);
      await stopAllProcesses();
    },
  };
}

/**
 * The production shape, started by the fault tests' launcher (test/faults/cluster.ts): a PostgreSQL
 * cluster of its own in .data/bench/cluster, the Temporal server on it, the compiled APIs and
 * workers (`npm run build`), fresh databases. The services get the dev benchmarks' settings:
 * the router's default fallback poll, the per-key rate limit lifted.
 */
export function startBenchCluster(opts: { apis: number; workers: number; env?: NodeJS.ProcessEnv }): Promise<Cluster> {
  return startCluster({
    ...opts,
    dir: join(loadProvisionSettings().dataDir, 'bench', 'cluster'),
    env: { ROUTER_POLL_MS: '1000', RATE_LIMIT_PER_MINUTE: '100000000', ...opts.env },
  });
}

/** Leaves worker-1 .. worker-n of the cluster running: stops (SIGTERM) the others, starts those missing. */
export async function runWorkers(c: Cluster, n: number): Promise<void> {
  for (const [i, w] of c.services.filter((s) => s.kind === 'worker').entries()) {
    if (i < n && w.proc.exit) await c.start(w.name);
    if (i >= n && !w.proc.exit) await c.kill(w.name, 'SIGTERM');
  }
}

/** Resident memory of a process, MiB, from /proc. */
export async function rssMiB(pid: number | undefined): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
  return kb ? Number(kb) / 1024 : undefined;
}

export const loadAverage = (): string =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ');

export interface BenchApi {
  config: Config;
  db: Db;
  temporal: Client;
  workspaceId: string;
  /** A request with the workspace's key; a status of 300 or more throws. */
  call(method: string, path: string, body: unknown): Promise<unknown>;
  close(): Promise<void>;
}

/** The API in this process on a free port, migrated, with a new workspace named after the benchmark. */
export async function startBenchApi(env: NodeJS.ProcessEnv, name: string): Promise<BenchApi> {
  const config = loadConfig(env);
  const db = createDb(config.DATABASE_URL, { max: 10 });
  await migrateToLatest(db);
  const temporal = new Client({ connection: await Connection.connect({ address: config.TEMPORAL_ADDRESS }), namespace: config.TEMPORAL_NAMESPACE });
  const app: App = await buildApp({ db, temporal, config, logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const ws = await createWorkspaceWithKey(db, { name: `bench-${name}-${Date.now()}` });
  return {
    config,
    db,
    temporal,
    workspaceId: ws.id,
    async call(method, path, body) {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${ws.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return res.json();
    },
    async close() {
      await app.close();
      await temporal.connection.close();
      await db.destroy();
    },
  };
}

/** The `n` of a `select count(*)::int as n` query. */
export async function count(db: Db, query: ReturnType<typeof sql<{ n: number }>>): Promise<number> {
  const { rows } = await query.execute(db);
  return Number(rows[0]?.n ?? 0);
}

export interface WorkerChild {
  child: ChildProcess;
  memory(): Promise<{ rss: number; heapUsed: number; heapTotal: number; external: number; maxCachedWorkflows: number }>;
  stop(): Promise<void>;
}

/** services/worker's engine in a process of its own (bench/engine-worker.ts), answering over IPC. */
export async function startWorkerChild(env: NodeJS.ProcessEnv): Promise<WorkerChild> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/engine-worker.ts'], {
    cwd: REPO_ROOT,
    env: { ...env, LOG_FORMAT: 'json' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiters: Array<(m: any) => void> = [];
  child.on('message', (m: any) => waiters.shift()?.(m));
  const next = () =>
    new Promise<any>((resolve, reject) => {
      waiters.push(resolve);
      child.once('exit', (code) => reject(new Error(`bench worker exited (${code})`)));
    });
  await next(); // ready
  return {
    child,
    memory: async () => {
      const p = next();
      child.send('mem');
      return p;
    },
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.send('stop');
      await exited;
    },
  };
}

export async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<number> {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return Date.now();
}

/** CPU seconds of a process (and, with `children`, of its live and reaped children: PostgreSQL's backends), from /proc. */
export function cpuSeconds(pid: number | undefined, children = false): number | undefined {
  if (!pid) return undefined;
  const fields = (p: number | string) => {
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  };
  try {
    const own = fields(pid);
    // After "(comm) ": state, ppid, ... utime (14th field) is index 11, stime 12, cutime 13, cstime 14.
    let ticks = Number(own[11]) + Number(own[12]);
    if (children) {
      ticks += Number(own[13]) + Number(own[14]);
      for (const entry of readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        try {
          const f = fields(entry);
          if (Number(f[1]) === pid) ticks += Number(f[11]) + Number(f[12]);
        } catch {
          // the process ended meanwhile
        }
      }
    }
    return ticks / 100; // USER_HZ
  } catch {
    return undefined;
  }
}

/** CPU seconds this process has used (the benchmark's own client, and the API when it runs in here). */
export const ownCpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** The PostgreSQL server process behind `db` (the parent of its backend), for `cpuSeconds(pid, true)`. */
export async function postmasterPid(db: Db): Promise<number | undefined> {
  const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db);
  try {
    const stat = readFileSync(`/proc/${rows[0]!.pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined; // PostgreSQL on another machine
  }
}

/** Where CPU goes: each part's CPU seconds so far (undefined when /proc cannot tell). */
export type CpuParts = Record<string, () => number | undefined>;

export const cpuSnapshot = (parts: CpuParts): Record<string, number | undefined> => Object.fromEntries(Object.entries(parts).map(([k, f]) => [k, f()]));

/** CPU cores each part used between two snapshots `seconds` apart (CPU seconds per second). */
export function coresUsed(a: Record<string, number | undefined>, b: Record<string, number | undefined>, seconds: number): Record<string, number | undefined> {
  return Object.fromEntries(Object.keys(b).map((k) => [k, a[k] !== undefined && b[k] !== undefined ? (b[k]! - a[k]!) / seconds : undefined]));
}

export const fmtCores = (c: Record<string, number | undefined>): string =>
  Object.entries(c)
    .map(([k, v]) => `${k} ${v === undefined ? 'n/a' : v.toFixed(2)}`)
    .join(', ');

/** Replaces (or appends) the section between `<!-- bench:<name>:start -->` and its end marker. */
export async function writeBenchmarkSection(name: string, lines: string[], log: (line: string) => void): Promise<void> {
  const file = join(REPO_ROOT, 'docs', 'benchmarks.md');
  const section = [`<!-- bench:${name}:start -->`, ...lines, `<!-- bench:${name}:end -->`].join('\n');
  let doc = await readFile(file, 'utf8').catch(() => '# Benchmarks\n');
  const re = new RegExp(`<!-- bench:${name}:start -->[\\s\\S]*?<!-- bench:${name}:end -->`);
  doc = re.test(doc) ? doc.replace(re, () => section) : `${doc.trimEnd()}\n\n${section}\n`;
  await mkdir(join(REPO_ROOT, 'docs'), { recursive: true });
  await writeFile(file, doc);
  log(`wrote ${file}`);
}
