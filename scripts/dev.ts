/**
 * `npm start`: the whole service on this machine, from a fresh clone, with nothing configured.
 *
 * Uses TEMPORAL_ADDRESS and DATABASE_URL when they are set; otherwise runs a Temporal dev server
 * (with its Web UI) and a private PostgreSQL cluster from the clone's data folder. Then migrates,
 * makes sure a "dev" workspace exists, starts the API and the worker, waits until the API is ready
 * and prints where everything is. Ctrl-C (or SIGTERM) stops what it started, in order.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ConfigError, loadConfig, redact } from '../services/common/config';
import { createDb } from '../db/connection';
import { migrateToLatest } from '../db/migrate';
import { ensureDevWorkspace } from './provision/dev-workspace';
import { ensureDatabase, startLocalPostgres } from './provision/postgres';
import { allOrFirstError, elapsed, interrupt, isPortFree, startProcess, stopAllProcesses, waitFor, type ManagedProcess } from './provision/proc';
import { loadProvisionSettings, REPO_ROOT, SetupError } from './provision/settings';
import { checkTemporal, ensureTemporalCli, startTemporalDevServer, workerPolls } from './provision/temporal';

const log = (line: string) => process.stderr.write(`[start] ${line}\n`);

/** What we started, stopped in reverse order; whatever registers after stopping began is stopped at once. */
class Started {
  private readonly stops: { name: string; stop: () => Promise<unknown> }[] = [];
  private stopping = false;

  add(name: string, stop: () => Promise<unknown>): void {
    if (this.stopping) void stop();
    else this.stops.push({ name, stop });
  }

  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const { name, stop } of this.stops.reverse()) {
      log(`stopping ${name}`);
      await stop().catch((err: Error) => log(`  could not stop ${name}: ${err.message}`));
    }
    this.stops.length = 0;
    await stopAllProcesses();
  }
}

const started = new Started();

async function main(): Promise<void> {
  const t0 = Date.now() - process.uptime() * 1000; // from process start: module loading counts too
  const envFile = join(REPO_ROOT, '.env');
  if (existsSync(envFile)) {
    process.loadEnvFile(envFile); // variables already in the environment win
    log('read .env');
  }
  const env = process.env;
  const settings = loadProvisionSettings(env);
  // Every service setting is checked before anything starts; the two we may provide get stand-ins.
  const preflight = loadConfig({
    ...env,
    DATABASE_URL: env.DATABASE_URL || 'postgres://followup@127.0.0.1/followup',
    TEMPORAL_ADDRESS: env.TEMPORAL_ADDRESS || `127.0.0.1:${settings.temporalPort}`,
  });
  if (!(await isPortFree(preflight.PORT, preflight.HOST))) {
    throw new SetupError(`PORT: ${preflight.PORT} on ${preflight.HOST} is already in use (another \`npm start\`?). Stop that process or set PORT to a free port.`);
  }
  await mkdir(settings.dataDir, { recursive: true });

  const [temporal, databaseUrl] = await allOrFirstError([
    (async () => {
      if (env.TEMPORAL_ADDRESS) {
        await checkTemporal(env.TEMPORAL_ADDRESS, 'TEMPORAL_ADDRESS');
        return { address: env.TEMPORAL_ADDRESS, uiUrl: preflight.TEMPORAL_UI_URL };
      }
      const cli = await ensureTemporalCli(settings.toolsDir, log);
      const dir = join(settings.dataDir, 'temporal');
      await mkdir(dir, { recursive: true });
      const logFile = join(dir, 'temporal.log');
      await writeFile(logFile, `# temporal server start-dev, ${new Date().toISOString()}\n`);
      const server = await startTemporalDevServer({
        cli,
        port: settings.temporalPort,
        uiPort: settings.temporalUiPort,
        dbFile: join(dir, 'temporal.db'),
        logFile,
        portVar: 'TEMPORAL_PORT',
        uiPortVar: 'TEMPORAL_UI_PORT',
        log,
      });
      started.add('the Temporal dev server', server.stop);
      return { address: server.address, uiUrl: env.TEMPORAL_UI_URL || server.uiUrl!, process: server.process };
    })(),
    (async () => {
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
    })(),
  ] as const);

  log(`PostgreSQL and Temporal ready (${elapsed(t0)})`);
  const db = createDb(databaseUrl, { max: 2 });
  let dev: Awaited<ReturnType<typeof ensureDevWorkspace>>;
  try {
    const applied = await migrateToLatest(db);
    if (applied.length > 0) log(`applied migrations: ${applied.join(', ')}`);
    dev = await ensureDevWorkspace(db, join(settings.dataDir, 'dev-api-key'));
  } finally {
    await db.destroy();
  }

  const serviceEnv: NodeJS.ProcessEnv = {
    ...env,
    NODE_ENV: env.NODE_ENV || 'development',
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_UI_URL: temporal.uiUrl,
  };
  const config = loadConfig(serviceEnv);
  const services: ManagedProcess[] = [];
  for (const [name, entry] of [['api', 'services/api/server.ts'], ['worker', 'services/worker/main.ts']] as const) {
    if (!existsSync(join(REPO_ROOT, entry))) log(`${entry} does not exist yet: running without the ${name}`);
    else services.push(await startProcess(name, process.execPath, ['--import', 'tsx', entry], { env: serviceEnv, cwd: REPO_ROOT }));
  }
  // The worker finishes in-flight activities for up to 30 s before it exits by itself.
  started.add(services.map((s) => `the ${s.name}`).join(' and '), () => Promise.all(services.map((s) => s.stop(35_000))));

  const host = ['0.0.0.0', '::', ''].includes(config.HOST) ? '127.0.0.1' : config.HOST;
  const apiUrl = `http://${host.includes(':') ? `[${host}]` : host}:${config.PORT}`;
  const exitedEarly = () => {
    const s = services.find((p) => p.exit);
    return s && `the ${s.name} exited (code ${s.exit!.code}); its message is above`;
  };
  const api = services.find((s) => s.name === 'api');
  const worker = services.find((s) => s.name === 'worker');
  await Promise.all([
    api &&
      waitFor(`the API at ${apiUrl}/readyz`, async () => ((await fetch(`${apiUrl}/readyz`, { signal: AbortSignal.timeout(2_000) })).ok ? true : undefined), {
        timeoutMs: 60_000,
        abort: exitedEarly,
      }).then(() => log(`API ready (${elapsed(t0)})`)),
    // The worker bundles the workflow code before it polls: the slowest part of a start.
    worker &&
      waitFor(
        `the worker polling task queue ${config.TEMPORAL_TASK_QUEUE}`,
        async () => ((await workerPolls(temporal.address, config.TEMPORAL_NAMESPACE, config.TEMPORAL_TASK_QUEUE, `${worker.child.pid}@`)) ? true : undefined),
        { timeoutMs: 180_000, intervalMs: 500, abort: exitedEarly },
      ).then(() => log(`worker polling (${elapsed(t0)})`)),
  ]);

  const keyFile = relative(process.cwd(), join(settings.dataDir, 'dev-api-key'));
  process.stdout.write(
    [
      '',
      `followup is running (ready in ${elapsed(t0)})`,
      `  API          ${apiUrl}`,
      `  API docs     ${apiUrl}/docs`,
      `  Temporal UI  ${temporal.uiUrl}`,
      `  Dev API key  ${dev.apiKey}   (workspace "dev"${dev.created ? ', created now' : ''}; kept in ${keyFile})`,
      `  PostgreSQL   ${redact(databaseUrl)}`,
      '',
      `  curl -H "Authorization: Bearer ${dev.apiKey}" ${apiUrl}/v1/automations`,
      '',
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  // Runs until a signal arrives or something we depend on stops by itself.
  const watched: ManagedProcess[] = [...services, ...('process' in temporal && temporal.process ? [temporal.process] : [])];
  const ended = await Promise.race([stopRequested, ...watched.map((p) => p.exited.then(() => p))]);
  if (typeof ended !== 'string') {
    log(`${ended.name} exited by itself (code ${ended.exit?.code}, signal ${ended.exit?.signal}); stopping everything`);
    process.exitCode = 1;
  }
}

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

main()
  .catch((err: unknown) => {
    process.exitCode = 1;
    if (stopSignal) return; // a step cut short by Ctrl-C: nothing to report
    if (err instanceof ConfigError || err instanceof SetupError) process.stderr.write(`\nnpm start: ${err.message}\n\n`);
    else process.stderr.write(`\nnpm start failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n\n`);
  })
  .finally(async () => {
    await started.stopAll();
    if (stopSignal) log('stopped');
    process.exit();
  });
