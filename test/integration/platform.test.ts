/**
 * The platform under the tests: what test/setup/global-setup.ts provisioned answers (PostgreSQL
 * with a migrated database, a Temporal dev server with the enrollment search attributes, the
 * time-skipping test server, the Temporal CLI), and `npm start` refuses bad configuration with a
 * message that names the problem, before it starts anything.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { Connection } from '@temporalio/client';
import { createDb } from '#db/connection';
import { freePort } from '#scripts/provision/proc';
import { REPO_ROOT } from '#scripts/provision/settings';
import { SEARCH_ATTRIBUTES } from '#scripts/provision/temporal';
import { createLocalEnv, createTimeSkippingEnv, temporalAddress, testDatabaseUrl, testEnv } from '../helpers/env';

describe('provisioned PostgreSQL', () => {
  it("answers with this file's own migrated database (a copy of followup_test on the local cluster)", async () => {
    const url = new URL(testDatabaseUrl());
    if (!process.env.FOLLOWUP_TEST_DATABASE_URL) expect(`${url.hostname}${url.pathname}`).toMatch(/^127\.0\.0\.1\/followup_test_clone_/);
    const db = createDb(testDatabaseUrl(), { max: 1 });
    try {
      const { rows } = await sql<{ db: string; version: string }>`select current_database() as db, current_setting('server_version_num') as version`.execute(
        db,
      );
      expect(rows[0]?.db).toBe(url.pathname.slice(1));
      expect(Number(rows[0]?.version)).toBeGreaterThanOrEqual(130000);
      const tables = await db.introspection.getTables();
      expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['workspaces', 'api_keys', 'records', 'events', 'enrollments', 'messages', 'outbox']));
      const { rows: migrations } = await sql<{ name: string }>`select name from kysely_migration`.execute(db);
      expect(migrations.length).toBeGreaterThan(0);
    } finally {
      await db.destroy();
    }
  });
});

describe('provisioned Temporal', () => {
  it('answers on loopback and knows the enrollment search attributes', async () => {
    expect(temporalAddress()).toMatch(/^127\.0\.0\.1:\d+$/);
    const connection = await Connection.connect({ address: temporalAddress() });
    try {
      const info = await connection.workflowService.getSystemInfo({});
      expect(info.serverVersion).toBeTruthy();
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: testEnv().temporalNamespace });
      expect(Object.keys(customAttributes ?? {})).toEqual(expect.arrayContaining(Object.keys(SEARCH_ATTRIBUTES)));
    } finally {
      await connection.close();
    }
  });

  it('serves its Web UI', async () => {
    const { temporalUiUrl } = testEnv();
    if (!temporalUiUrl) return; // FOLLOWUP_TEST_TEMPORAL_ADDRESS: a server we did not start
    expect((await fetch(temporalUiUrl)).status).toBe(200);
  });

  it('runs the time-skipping test server from the Maven jars, on loopback', async () => {
    const env = await createTimeSkippingEnv();
    try {
      expect(env.supportsTimeSkipping).toBe(true);
      expect(env.address).toMatch(/^127\.0\.0\.1:\d+$/);
      const before = await env.currentTimeMs();
      await env.sleep('30 days');
      expect((await env.currentTimeMs()) - before).toBeGreaterThanOrEqual(30 * 24 * 3600 * 1000);
    } finally {
      await env.teardown();
    }
  });

  it('runs a private dev server from the built CLI for createLocal', async () => {
    const env = await createLocalEnv();
    try {
      expect(env.supportsTimeSkipping).toBe(false);
      await env.connection.workflowService.getSystemInfo({});
    } finally {
      await env.teardown();
    }
  });
});

describe('npm start refuses bad configuration before starting anything', () => {
  let dataDir: string;
  let busy: Server;
  let busyPort: number; // something listens here
  let closedPort: number; // nothing listens here

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'followup-start-'));
    busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    busyPort = (busy.address() as { port: number }).port;
    closedPort = await freePort();
  });
  afterAll(async () => {
    await new Promise((r) => busy.close(r));
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Runs scripts/dev.ts (what `npm start` runs once dependencies are installed) with `env` on top of a clean one. */
  function start(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/dev.ts'], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, FOLLOWUP_DATA_DIR: dataDir, ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
  }

  const noStack = (stderr: string) => expect(stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);

  it.each([
    [{ PORT: 'eighty' }, /PORT: .*\(got "eighty"\)/],
    [{ LOG_LEVEL: 'chatty' }, /LOG_LEVEL: is not one of the allowed values/],
    [{ DATABASE_URL: 'localhost:5432/followup' }, /DATABASE_URL: protocol "localhost:" is not postgres: or postgresql:/],
    [{ DATABASE_URL: 'postgres://u:pw@127.0.0.1:5432' }, /DATABASE_URL: names no database/],
    [{ FOLLOWUP_PG_PORT: 'many' }, /FOLLOWUP_PG_PORT: must be a port number/],
  ])('%j', async (env, message) => {
    const { code, stderr } = await start(env);
    expect(code).toBe(1);
    expect(stderr).toMatch(message);
    noStack(stderr);
    expect(await readdir(dataDir)).toEqual([]);
  });

  it('names PORT when the API port is taken', async () => {
    const { code, stderr } = await start({ PORT: String(busyPort) });
    expect(code).toBe(1);
    expect(stderr).toContain(`PORT: ${busyPort} on 127.0.0.1 is already in use`);
    noStack(stderr);
  });

  it('names TEMPORAL_ADDRESS when nothing answers there', async () => {
    const { code, stderr } = await start({ TEMPORAL_ADDRESS: `127.0.0.1:${closedPort}`, DATABASE_URL: testDatabaseUrl() });
    expect(code).toBe(1);
    expect(stderr).toContain(`TEMPORAL_ADDRESS: Temporal does not answer at 127.0.0.1:${closedPort}`);
    noStack(stderr);
  });

  it('names DATABASE_URL when nothing answers there', async () => {
    const { code, stderr } = await start({ DATABASE_URL: `postgres://u@127.0.0.1:${closedPort}/x`, TEMPORAL_ADDRESS: temporalAddress() });
    expect(code).toBe(1);
    expect(stderr).toContain(`DATABASE_URL: nothing accepts connections at 127.0.0.1:${closedPort}`);
    noStack(stderr);
  });
});
