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
import { loadConfig, redact } from '#platform/config';
import { allOrFirstError, elapsed, isPortFree, type ManagedProcess } from './provision/proc';
import { firstExited, localUrl, prepareDatabase, providePostgres, runMain, Started, startService, waitForApi, waitForWorker } from './provision/lifecycle';
import { loadProvisionSettings, REPO_ROOT, SetupError } from './provision/settings';
import { checkTemporal, ensureTemporalCli, startTemporalDevServer } from './provision/temporal';

const log = (line: string) => process.stderr.write(`[start] ${line}\n`);

const started = new Started(log);

async function main(stopRequested: Promise<string>): Promise<void> {
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
    throw new SetupError(
      `PORT: ${preflight.PORT} on ${preflight.HOST} is already in use (another \`npm start\`?). Stop that process or set PORT to a free port.`,
    );
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
    providePostgres(env, settings, started, log),
  ] as const);

  log(`PostgreSQL and Temporal ready (${elapsed(t0)})`);
  const dev = await prepareDatabase(databaseUrl, settings.dataDir, log);

  const serviceEnv: NodeJS.ProcessEnv = {
    ...env,
    NODE_ENV: env.NODE_ENV || 'development',
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_UI_URL: temporal.uiUrl,
  };
  const config = loadConfig(serviceEnv);
  const services: ManagedProcess[] = [];
  for (const [name, entry] of [
    ['api', 'services/api/server.ts'],
    ['worker', 'services/worker/main.ts'],
  ] as const) {
    if (!existsSync(join(REPO_ROOT, entry))) log(`${entry} does not exist yet: running without the ${name}`);
    else services.push(await startService(name, [process.execPath, '--import', 'tsx', entry], serviceEnv));
  }
  // The worker finishes in-flight activities for up to 30 s before it exits by itself.
  started.add(services.map((s) => `the ${s.name}`).join(' and '), () => Promise.all(services.map((s) => s.stop(35_000))));

  const apiUrl = localUrl(config.HOST, config.PORT);
  const exitedEarly = firstExited(services);
  const api = services.find((s) => s.name === 'api');
  const worker = services.find((s) => s.name === 'worker');
  await Promise.all([
    api && waitForApi(apiUrl, exitedEarly).then(() => log(`API ready (${elapsed(t0)})`)),
    // The worker bundles the workflow code before it polls: the slowest part of a start.
    worker &&
      waitForWorker(temporal.address, config.TEMPORAL_NAMESPACE, config.TEMPORAL_TASK_QUEUE, worker.child.pid!, exitedEarly).then(() =>
        log(`worker polling (${elapsed(t0)})`),
      ),
  ]);

  const keyFile = relative(process.cwd(), join(settings.dataDir, 'dev-api-key'));
  process.stdout.write(
    [
      '',
      `followup is running (ready in ${elapsed(t0)})`,
      `  API          ${apiUrl}`,
      `  API docs     ${apiUrl}/docs`,
      `  Dashboard    ${apiUrl}/dashboard   (sign in with the dev API key)`,
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

runMain('npm start', log, started, main);
