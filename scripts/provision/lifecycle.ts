/**
 * What `npm start` and `npm run start:cluster` share around their own steps: the list of what was
 * started (stopped in reverse order), Ctrl-C handling, the waits for an API and a worker to be
 * ready, and how a failure is reported.
 */
import { join } from 'node:path';
import { ConfigError } from '#platform/config';
import { createDb } from '#db/connection';
import { migrateToLatest } from '#db/migrate';
import { ensureDevWorkspace } from './dev-workspace';
import { ensureDatabase, startLocalPostgres } from './postgres';
import { interrupt, startProcess, stopAllProcesses, waitFor, type Log, type ManagedProcess } from './proc';
import { REPO_ROOT, SetupError, type ProvisionSettings } from './settings';
import { workerPolls } from './temporal';

/** What we started, stopped in reverse order; whatever registers after stopping began is stopped at once. */
export class Started {
  private readonly stops: { name: string; stop: () => Promise<unknown> }[] = [];
  private stopping = false;

  constructor(private readonly log: Log) {}

  add(name: string, stop: () => Promise<unknown>): void {
    if (this.stopping) void stop();
    else this.stops.push({ name, stop });
  }

  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const { name, stop } of this.stops.reverse()) {
      this.log(`stopping ${name}`);
      await stop().catch((err: Error) => this.log(`  could not stop ${name}: ${err.message}`));
    }
    this.stops.length = 0;
    await stopAllProcesses();
  }
}

/**
 * Runs `main` as the whole process: SIGINT/SIGTERM/SIGHUP interrupt provisioning and resolve
 * `stopRequested`; a SetupError or ConfigError is printed as one message; everything in `started`
 * is stopped before the process exits.
 */
export function runMain(command: string, log: Log, started: Started, main: (stopRequested: Promise<string>) => Promise<void>): void {
  let stopSignal: string | undefined;
  let resolveStop: (signal: string) => void = () => {};
  const stopRequested = new Promise<string>((r) => (resolveStop = r));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (stopSignal) return; // a terminal's Ctrl-C can reach us more than once (via npm and start.mjs)
      stopSignal = signal;
      log(`${signal}: stopping`);
      interrupt(`interrupted by ${signal}`);
      resolveStop(signal);
    });
  }
  main(stopRequested)
    .catch((err: unknown) => {
      process.exitCode = 1;
      if (stopSignal) return; // a step cut short by Ctrl-C: nothing to report
      if (err instanceof ConfigError || err instanceof SetupError) process.stderr.write(`\n${command}: ${err.message}\n\n`);
      else process.stderr.write(`\n${command} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n\n`);
    })
    .finally(async () => {
      await started.stopAll();
      if (stopSignal) log('stopped');
      process.exit();
    });
}

/** Starts a service entry point (an API or a worker) as its own process from the repository root. */
export function startService(name: string, command: string[], env: NodeJS.ProcessEnv, logFile?: string): Promise<ManagedProcess> {
  return startProcess(name, command[0]!, command.slice(1), { env, cwd: REPO_ROOT, logFile });
}

/** A URL a person can open for a listening address (0.0.0.0 and :: become 127.0.0.1). */
export function localUrl(host: string, port: number): string {
  const h = ['0.0.0.0', '::', ''].includes(host) ? '127.0.0.1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/** Resolves once the API at `apiUrl` answers /readyz; `abort` names why waiting is pointless. */
export function waitForApi(apiUrl: string, abort: () => string | undefined): Promise<true> {
  return waitFor(`the API at ${apiUrl}/readyz`, async () => ((await fetch(`${apiUrl}/readyz`, { signal: AbortSignal.timeout(2_000) })).ok ? true : undefined), {
    timeoutMs: 60_000,
    abort,
  });
}

/** Resolves once the worker process `pid` polls `taskQueue` (it bundles or loads the workflow code first). */
export function waitForWorker(address: string, namespace: string, taskQueue: string, pid: number, abort: () => string | undefined): Promise<true> {
  return waitFor(`the worker polling task queue ${taskQueue}`, async () => ((await workerPolls(address, namespace, taskQueue, `${pid}@`)) ? true : undefined), {
    timeoutMs: 180_000,
    intervalMs: 500,
    abort,
  });
}

/** The abort check for the waits above: names the first of `services` that has exited. */
export const firstExited =
  (services: ManagedProcess[], where = 'its message is above') =>
  (): string | undefined => {
    const s = services.find((p) => p.exit);
    return s && `the ${s.name} exited (code ${s.exit!.code}); ${where}`;
  };

/** DATABASE_URL's server when set, else the clone's private cluster (started when needed): the `followup` database's URL. */
export async function providePostgres(env: NodeJS.ProcessEnv, settings: ProvisionSettings, started: Started, log: Log): Promise<string> {
  if (env.DATABASE_URL) {
    await ensureDatabase(env.DATABASE_URL, 'DATABASE_URL');
    return env.DATABASE_URL;
  }
  const pg = await startLocalPostgres({ root: join(settings.dataDir, 'postgres'), port: settings.pgPort, log });
  if (pg.owned) started.add('PostgreSQL', pg.stop);
  const url = pg.url('followup');
  await ensureDatabase(url);
  await ensureDatabase(pg.url('followup_test'), 'the test database');
  return url;
}

/** Applies pending migrations and makes sure the "dev" workspace and its key (kept in `dataDir`) exist. */
export async function prepareDatabase(databaseUrl: string, dataDir: string, log: Log): Promise<Awaited<ReturnType<typeof ensureDevWorkspace>>> {
  const db = createDb(databaseUrl, { max: 2 });
  try {
    const applied = await migrateToLatest(db);
    if (applied.length > 0) log(`applied migrations: ${applied.join(', ')}`);
    return await ensureDevWorkspace(db, join(dataDir, 'dev-api-key'));
  } finally {
    await db.destroy();
  }
}
