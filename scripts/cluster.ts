/**
 * `npm run start:cluster`: the production shape of docker-compose.yml, run natively. PostgreSQL
 * (DATABASE_URL's server, or the clone's private cluster), a Temporal server on it (built from the
 * Go module proxy at the version docker-compose pins, configured by deploy/temporal/cluster.yaml),
 * the Temporal Web UI, and the services compiled by `npm run build`: FOLLOWUP_CLUSTER_APIS APIs on PORT, PORT+1, ... and FOLLOWUP_CLUSTER_WORKERS
 * workers (each with its outbox router). Ctrl-C stops everything it started.
 */
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { loadConfig, redact } from '#platform/config';
import { allOrFirstError, elapsed, isPortFree, runOk, type ManagedProcess } from './provision/proc';
import { firstExited, localUrl, prepareDatabase, providePostgres, runMain, Started, startService, waitForApi, waitForWorker } from './provision/lifecycle';
import { loadProvisionSettings, REPO_ROOT, SetupError } from './provision/settings';
import {
  ensureNamespace,
  ensureTemporalServer,
  ensureTemporalUi,
  setupTemporalSchema,
  startTemporalServer,
  startTemporalUi,
} from './provision/temporal-server';
import { serviceCommand } from './provision/services';

const log = (line: string) => process.stderr.write(`[cluster] ${line}\n`);
const started = new Started(log);

async function main(stopRequested: Promise<string>): Promise<void> {
  const t0 = Date.now() - process.uptime() * 1000;
  const envFile = join(REPO_ROOT, '.env');
  if (existsSync(envFile)) {
    process.loadEnvFile(envFile); // variables already in the environment win
    log('read .env');
  }
  const env = process.env;
  if (env.TEMPORAL_ADDRESS)
    throw new SetupError('TEMPORAL_ADDRESS is set: start:cluster runs its own Temporal server. Unset it (or use `npm start`, which uses yours).');
  const settings = loadProvisionSettings(env);
  const preflight = loadConfig({ ...env, DATABASE_URL: env.DATABASE_URL || 'postgres://followup@127.0.0.1/followup' });
  const apiPorts = Array.from({ length: settings.clusterApis }, (_, i) => preflight.PORT + i);
  for (const port of apiPorts) {
    if (!(await isPortFree(port, preflight.HOST)))
      throw new SetupError(
        `PORT: the cluster's APIs take ports ${apiPorts.join(', ')} and ${port} on ${preflight.HOST} is in use. Set PORT to another first port.`,
      );
  }
  const dir = join(settings.dataDir, 'cluster');
  await mkdir(dir, { recursive: true });
  const logFile = async (name: string) => {
    const file = join(dir, `${name}.log`);
    await writeFile(file, `# ${name}, npm run start:cluster, ${new Date().toISOString()}\n`);
    return file;
  };

  const [tools, ui, databaseUrl] = await allOrFirstError([
    ensureTemporalServer(settings.toolsDir, log),
    ensureTemporalUi(settings.toolsDir, log),
    providePostgres(env, settings, started, log),
    // Production runs the compiled services: built afresh, so they are never older than the source.
    runOk('npm run build', process.execPath, ['--import', 'tsx', 'scripts/build.ts'], { cwd: REPO_ROOT }),
  ] as const);
  await setupTemporalSchema(tools.sqlTool, databaseUrl, log);
  const server = await startTemporalServer({
    binary: tools.server,
    databaseUrl,
    port: settings.temporalPort,
    logFile: await logFile('temporal-server'),
    portVar: 'TEMPORAL_PORT',
  });
  started.add('the Temporal server', server.stop);
  await ensureNamespace(server.address, preflight.TEMPORAL_NAMESPACE);
  log(`PostgreSQL and the Temporal server ready (${elapsed(t0)})`);

  const apiUrls = apiPorts.map((port) => localUrl(preflight.HOST, port));
  let uiUrl = env.TEMPORAL_UI_URL;
  if (ui) {
    const running = await startTemporalUi({
      binary: ui,
      address: server.address,
      port: settings.temporalUiPort,
      corsOrigins: apiUrls,
      logFile: await logFile('temporal-ui'),
    });
    started.add('the Temporal Web UI', () => running.process.stop(5_000));
    uiUrl = running.url;
  }

  const dev = await prepareDatabase(databaseUrl, settings.dataDir, log);
  // Production refuses the development key; one generated here is kept, so credentials sealed with
  // it stay readable on the next start.
  const secretsKey = env.SECRETS_KEY || (await keptSecret(join(dir, 'secrets-key')));
  const serviceEnv: NodeJS.ProcessEnv = {
    ...env,
    NODE_ENV: env.NODE_ENV || 'production',
    LOG_FORMAT: 'json',
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_UI_URL: uiUrl ?? '',
    SECRETS_KEY: secretsKey,
  };
  const config = loadConfig(serviceEnv);
  const apis: ManagedProcess[] = [];
  const workers: ManagedProcess[] = [];
  for (const [i, port] of apiPorts.entries()) {
    apis.push(await startService(`api-${i + 1}`, serviceCommand('api', true), { ...serviceEnv, PORT: String(port) }, await logFile(`api-${i + 1}`)));
  }
  for (let i = 0; i < settings.clusterWorkers; i += 1) {
    // Each worker serves its own /metrics: WORKER_METRICS_PORT, +1, ... (one port cannot be shared).
    const metricsPort = String(config.WORKER_METRICS_PORT === 0 ? 0 : config.WORKER_METRICS_PORT + i);
    workers.push(
      await startService(
        `worker-${i + 1}`,
        serviceCommand('worker', true),
        { ...serviceEnv, WORKER_METRICS_PORT: metricsPort },
        await logFile(`worker-${i + 1}`),
      ),
    );
  }
  const services = [...apis, ...workers];
  // A worker finishes in-flight activities for up to 30 s before it exits by itself.
  started.add(`${apis.length} APIs and ${workers.length} workers`, () => Promise.all(services.map((s) => s.stop(35_000))));

  const logs = relative(process.cwd(), dir) || '.';
  const exitedEarly = firstExited(services, `see ${logs}/`);
  await Promise.all([
    ...apis.map((api, i) => waitForApi(apiUrls[i]!, exitedEarly)),
    ...workers.map((w) => waitForWorker(server.address, config.TEMPORAL_NAMESPACE, config.TEMPORAL_TASK_QUEUE, w.child.pid!, exitedEarly)),
  ]);

  process.stdout.write(
    [
      '',
      `followup cluster is running (ready in ${elapsed(t0)})`,
      ...apiUrls.map((url, i) => `  API ${i + 1}        ${url}`),
      `  API docs     ${apiUrls[0]}/docs`,
      `  Dashboard    ${apiUrls[0]}/dashboard   (sign in with the dev API key)`,
      `  Workers      ${workers.length} (each with an outbox router), task queue ${config.TEMPORAL_TASK_QUEUE}, metrics from port ${config.WORKER_METRICS_PORT}`,
      `  Temporal     ${server.address} (server ${tools.server.split('/').at(-2)}, on PostgreSQL)`,
      `  Temporal UI  ${uiUrl || '(not available: see the message above)'}`,
      `  Dev API key  ${dev.apiKey}   (workspace "dev")`,
      `  PostgreSQL   ${redact(databaseUrl)}`,
      `  Logs         ${logs}/`,
      '',
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  const watched = [...services, server.process];
  const ended = await Promise.race([stopRequested, ...watched.map((p) => p.exited.then(() => p))]);
  if (typeof ended !== 'string') {
    log(`${ended.name} exited by itself (code ${ended.exit?.code}, signal ${ended.exit?.signal}); stopping everything (see ${logs}/${ended.name}.log)`);
    process.exitCode = 1;
  }
}

/** The secret stored in `file`, created (48 random bytes, base64) on first use. */
async function keptSecret(file: string): Promise<string> {
  const saved = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (saved) return saved;
  const secret = randomBytes(48).toString('base64');
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  log(`generated SECRETS_KEY, kept in ${relative(process.cwd(), file)}`);
  return secret;
}

runMain('npm run start:cluster', log, started, main);
