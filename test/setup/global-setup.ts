/**
 * Vitest globalSetup of the `workflow` and `integration` projects: provisions what the tests run
 * against, the same way `npm start` does (scripts/provision), and hands it to the tests with
 * `provide` (read it through test/helpers/env.ts):
 *   - PostgreSQL: the clone's private cluster (or FOLLOWUP_TEST_DATABASE_URL's server) with a fresh
 *     `followup_test` database, migrated: the template each test file's own database is cloned from
 *     (test/setup/file-database.ts), so nothing connects to it while the tests run;
 *   - a Temporal dev server for the run, in memory, on FOLLOWUP_TEST_TEMPORAL_PORT (7244) and UI
 *     port 8244, so it never meets a running `npm start` (or FOLLOWUP_TEST_TEMPORAL_ADDRESS);
 *   - the time-skipping test server's launcher and the Temporal CLI, as executables for
 *     @temporalio/testing (each test file starts its own time-skipping server);
 *   - the workflow code bundled once, for every Worker the tests create (`workflowBundle`).
 * Vitest runs each project's globalSetup only when that project has files to run, so a unit-only
 * run starts nothing. Both projects share one provisioning, stopped after the last teardown.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { createDb } from '#db/connection';
import { migrateToLatest } from '#db/migrate';
import { bundleWorkflowCode } from '@temporalio/worker';
import { dropClones, recreateDatabase, startLocalPostgres } from '#scripts/provision/postgres';
import { loadProvisionSettings, SetupError } from '#scripts/provision/settings';
import { checkTemporal, ensureTemporalCli, startTemporalDevServer } from '#scripts/provision/temporal';
import { ensureTestServer } from '#scripts/provision/test-server';
import { WORKFLOWS_PATH } from '#services/worker/worker';
import { allOrFirstError, elapsed, stopAllProcesses } from '#scripts/provision/proc';
import type { TestInfra } from '../helpers/env';

const log = (line: string) => process.stderr.write(`[test-setup] ${line}\n`);

interface Shared {
  users: number;
  infra: Promise<TestInfra>;
  stops: (() => Promise<unknown>)[];
}

// Each project loads this file as its own module instance; the provisioning is shared through the
// one process they run in.
const KEY = Symbol.for('followup.test.provisioning');
const registry = globalThis as unknown as { [KEY]?: Shared };

async function provision(stops: Shared['stops']): Promise<TestInfra> {
  const t0 = Date.now();
  const settings = loadProvisionSettings();
  const [databaseUrl, temporal, testServerPath, workflowBundlePath] = await allOrFirstError([
    (async () => {
      let url = settings.testDatabaseUrl;
      if (!url) {
        const pg = await startLocalPostgres({ root: join(settings.dataDir, 'postgres'), port: settings.pgPort, anyPort: true, log });
        if (pg.owned) stops.push(pg.stop);
        url = pg.url('followup_test');
      }
      await recreateDatabase(url, settings.testDatabaseUrl ? 'FOLLOWUP_TEST_DATABASE_URL' : 'the local PostgreSQL');
      // The file databases an interrupted run left behind.
      await dropClones(url);
      const db = createDb(url, { max: 1 });
      try {
        await migrateToLatest(db);
      } finally {
        await db.destroy();
      }
      return url;
    })(),
    (async () => {
      const cli = await ensureTemporalCli(settings.toolsDir, log);
      if (settings.testTemporalAddress) {
        await checkTemporal(settings.testTemporalAddress, 'FOLLOWUP_TEST_TEMPORAL_ADDRESS');
        return { cli, address: settings.testTemporalAddress, uiUrl: undefined };
      }
      const dir = join(settings.dataDir, 'temporal-test');
      await mkdir(dir, { recursive: true });
      const logFile = join(dir, 'temporal.log');
      await writeFile(logFile, `# temporal server start-dev for npm test, ${new Date().toISOString()}\n`);
      const server = await startTemporalDevServer({
        cli,
        port: settings.testTemporalPort,
        uiPort: settings.testTemporalUiPort,
        logFile,
        anyPort: true,
        portVar: 'FOLLOWUP_TEST_TEMPORAL_PORT',
        uiPortVar: 'FOLLOWUP_TEST_TEMPORAL_UI_PORT',
        log,
      });
      stops.push(server.stop);
      return { cli, address: server.address, uiUrl: server.uiUrl };
    })(),
    ensureTestServer(settings.toolsDir, log),
    (async () => {
      const path = join(settings.dataDir, 'test', 'workflow-bundle.js');
      const { code } = await bundleWorkflowCode({
        workflowsPath: WORKFLOWS_PATH,
        logger: { log() {}, trace() {}, debug() {}, info() {}, warn: log, error: log },
      });
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, code);
      return path;
    })(),
  ] as const);
  log(`PostgreSQL ${databaseUrl}, Temporal ${temporal.address}${temporal.uiUrl ? ` (UI ${temporal.uiUrl})` : ''}, ready in ${elapsed(t0)}`);
  return {
    databaseUrl,
    temporalAddress: temporal.address,
    temporalNamespace: 'default',
    temporalUiUrl: temporal.uiUrl,
    temporalCliPath: temporal.cli,
    testServerPath,
    workflowBundlePath,
  };
}

async function release(shared: Shared): Promise<void> {
  shared.users -= 1;
  if (shared.users > 0) return;
  delete registry[KEY];
  for (const stop of shared.stops.reverse()) await stop().catch((err: Error) => log(`cleanup: ${err.message}`));
  await stopAllProcesses();
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let shared = registry[KEY];
  if (!shared) {
    const stops: Shared['stops'] = [];
    shared = registry[KEY] = { users: 0, stops, infra: provision(stops) };
  }
  shared.users += 1;
  let infra: TestInfra;
  try {
    infra = await shared.infra;
  } catch (err) {
    await release(shared);
    // A SetupError is a message for the person running the tests, not a bug: no stack.
    if (err instanceof SetupError) throw Object.assign(new Error(`npm test could not provision its services:\n${err.message}`), { stack: '' });
    throw err;
  }
  project.provide('followup', infra);
  return () => release(shared);
}
