/**
 * The Temporal server of the production shape (`npm run start:cluster`, the fault tests): the
 * server and its SQL schema tool built from the Go module proxy at the version docker-compose.yml
 * pins, its two databases in PostgreSQL, the server run with deploy/temporal/cluster.yaml and the
 * Web UI with deploy/temporal-ui/docker.yaml (the files docker-compose mounts).
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { REPO_ROOT, SetupError, TEMPORAL_SERVER_VERSION, TEMPORAL_UI_VERSION } from './settings';
import { isExecutable, isPortFree, runOk, startProcess, tailFile, waitFor, type Log, type ManagedProcess } from './proc';
import { goInstall, SEARCH_ATTRIBUTES } from './temporal';

const SERVER_MODULE = 'go.temporal.io/server';
const UI_MODULE = 'github.com/temporalio/ui-server/v2';

/** Folders docker-compose.yml mounts into the server and UI containers. */
export const SERVER_CONFIG_DIR = 'deploy/temporal';
export const SERVER_CONFIG_ENV = 'cluster';
export const UI_CONFIG_DIR = 'deploy/temporal-ui';

export const TEMPORAL_DATABASES = ['temporal', 'temporal_visibility'] as const;
export const SCHEMAS: Record<(typeof TEMPORAL_DATABASES)[number], string> = {
  temporal: 'postgresql/v12/temporal',
  temporal_visibility: 'postgresql/v12/visibility',
};

export interface ServerTools {
  server: string;
  sqlTool: string;
}

const fallback = (binDir: string) =>
  `Alternatives: put temporal-server and temporal-sql-tool ${TEMPORAL_SERVER_VERSION} in ${binDir}, or use docker-compose.yml.`;

/** temporal-server and temporal-sql-tool in `<tools>/temporal-server-<version>`, built there when missing (minutes, once per machine). */
export async function ensureTemporalServer(toolsDir: string, log: Log): Promise<ServerTools> {
  const binDir = join(toolsDir, `temporal-server-${TEMPORAL_SERVER_VERSION}`);
  const tools = { server: join(binDir, 'temporal-server'), sqlTool: join(binDir, 'temporal-sql-tool') };
  if ((await isExecutable(tools.server)) && (await isExecutable(tools.sqlTool))) return tools;
  // One module at one version: `go install` builds both in one go, and at v1.29.1 the module has
  // no replace directive that would stop `go install`.
  await goInstall({
    what: `the Temporal server ${TEMPORAL_SERVER_VERSION} and its SQL schema tool`,
    packages: [`${SERVER_MODULE}/cmd/server@${TEMPORAL_SERVER_VERSION}`, `${SERVER_MODULE}/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`],
    binaries: { server: 'temporal-server', sql: 'temporal-sql-tool' },
    toolsDir,
    binDir,
    minutes: 10,
    fallback: fallback(binDir),
    log,
  });
  return tools;
}

/** The Web UI server in `<tools>/temporal-ui-<version>`, built there when missing; undefined (with the reason logged) when it cannot be. */
export async function ensureTemporalUi(toolsDir: string, log: Log): Promise<string | undefined> {
  const binDir = join(toolsDir, `temporal-ui-${TEMPORAL_UI_VERSION}`);
  const binary = join(binDir, 'temporal-ui-server');
  if (await isExecutable(binary)) return binary;
  try {
    await goInstall({
      what: `the Temporal Web UI ${TEMPORAL_UI_VERSION}`,
      packages: [`${UI_MODULE}/cmd/server@${TEMPORAL_UI_VERSION}`],
      binaries: { server: 'temporal-ui-server' },
      toolsDir,
      binDir,
      minutes: 2,
      fallback: 'The cluster runs without the Web UI.',
      log,
    });
    return binary;
  } catch (err) {
    log(`no Temporal Web UI: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

interface PgTarget {
  host: string;
  port: string;
  user: string;
  password: string;
}

function pgTarget(databaseUrl: string): PgTarget {
  const u = new URL(databaseUrl);
  return { host: u.hostname, port: u.port || '5432', user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
}

/**
 * Creates Temporal's databases on the server of `databaseUrl` when missing and brings their schemas
 * up to date with the schema tool, as docker-compose's temporal-schema service does.
 */
export async function setupTemporalSchema(sqlTool: string, databaseUrl: string, log: Log): Promise<void> {
  const target = pgTarget(databaseUrl);
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  let existing: Set<string>;
  try {
    const { rows } = await client.query<{ datname: string }>('select datname from pg_database where datname = any($1)', [TEMPORAL_DATABASES]);
    existing = new Set(rows.map((r) => r.datname));
  } finally {
    await client.end();
  }
  const env = { ...process.env, SQL_PASSWORD: target.password };
  for (const db of TEMPORAL_DATABASES) {
    const sql = (what: string, args: string[]) =>
      runOk(
        `temporal-sql-tool ${what} (${db})`,
        sqlTool,
        ['--plugin', 'postgres12', '--ep', target.host, '-p', target.port, '-u', target.user, '--db', db, ...args],
        { env },
      );
    if (!existing.has(db)) {
      log(`creating Temporal's database ${db}`);
      await sql('create-database', ['create-database']);
      await sql('setup-schema', ['setup-schema', '-v', '0.0']);
    }
    await sql('update-schema', ['update-schema', '--schema-name', SCHEMAS[db]]);
  }
}

/** Ports of one Temporal server: the frontend on `port`, the other services on the ports after it. */
export function serverPorts(port: number) {
  return {
    FRONTEND_GRPC_PORT: port,
    HISTORY_GRPC_PORT: port + 1,
    MATCHING_GRPC_PORT: port + 2,
    WORKER_GRPC_PORT: port + 3,
    FRONTEND_HTTP_PORT: port + 4,
    FRONTEND_MEMBERSHIP_PORT: port + 5,
    HISTORY_MEMBERSHIP_PORT: port + 6,
    MATCHING_MEMBERSHIP_PORT: port + 7,
    WORKER_MEMBERSHIP_PORT: port + 8,
  };
}

/** The variables deploy/temporal/cluster.yaml reads (docker-compose sets the same ones). */
export function serverEnv(databaseUrl: string, port: number): Record<string, string> {
  const target = pgTarget(databaseUrl);
  const ports = Object.fromEntries(Object.entries(serverPorts(port)).map(([k, v]) => [k, String(v)]));
  return {
    TEMPORAL_ROOT: REPO_ROOT,
    TEMPORAL_CONFIG_DIR: SERVER_CONFIG_DIR,
    TEMPORAL_ENVIRONMENT: SERVER_CONFIG_ENV,
    TEMPORAL_ALLOW_NO_AUTH: 'true',
    POSTGRES_SEEDS: target.host,
    DB_PORT: target.port,
    POSTGRES_USER: target.user,
    POSTGRES_PWD: target.password,
    BIND_ON_IP: '127.0.0.1',
    ...ports,
  };
}

export interface TemporalServer {
  address: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** Starts the server (every service in one process), waits until its frontend answers. */
export async function startTemporalServer(opts: {
  binary: string;
  databaseUrl: string;
  port: number;
  logFile: string;
  portVar: string;
}): Promise<TemporalServer> {
  // Temporal keeps membership ports in a smallint column.
  if (opts.port + 8 > 32767) throw new SetupError(`${opts.portVar}: the Temporal server's ports must stay below 32768 (got ${opts.port}-${opts.port + 8})`);
  for (const [name, port] of Object.entries(serverPorts(opts.port))) {
    if (!(await isPortFree(port))) {
      throw new SetupError(
        `${opts.portVar}: the Temporal server needs ports ${opts.port}-${opts.port + 8} on 127.0.0.1, and ${port} (${name}) is in use. Set ${opts.portVar} to another base port.`,
      );
    }
  }
  // Only what the config reads, so a LOG_LEVEL meant for our services does not reach the server.
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...serverEnv(opts.databaseUrl, opts.port) };
  const proc = await startProcess('temporal-server', opts.binary, ['start'], { env, logFile: opts.logFile });
  const address = `127.0.0.1:${opts.port}`;
  try {
    await waitFor(`the Temporal server at ${address}`, async () => ((await systemInfo(address)) ? true : undefined), {
      timeoutMs: 120_000,
      intervalMs: 500,
      abort: () => (proc.exit ? `exited (code ${proc.exit.code}, signal ${proc.exit.signal})` : undefined),
    });
  } catch (err) {
    await proc.stop(5_000);
    throw new SetupError(`${(err as Error).message}\n  ${opts.logFile}:\n${await tailFile(opts.logFile, 15)}`);
  }
  return { address, process: proc, stop: () => proc.stop(15_000) };
}

async function systemInfo(address: string): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 2_000 });
  try {
    await connection.workflowService.getSystemInfo({});
    return true;
  } finally {
    await connection.close();
  }
}

/** temporal.api.enums.v1.IndexedValueType */
const INDEXED_VALUE_TYPE = { Keyword: 2, Int: 3 } as const;

/**
 * The namespace (720 h retention, as docker-compose's temporal-setup) and the search
 * attributes of docs/design.md §6.4, created when missing; returns once a workflow list query that names every attribute
 * is accepted (the frontend caches the attributes it knows).
 */
export async function ensureNamespace(address: string, namespace: string): Promise<void> {
  const connection = await Connection.connect({ address, connectTimeout: 5_000 });
  try {
    const svc = connection.workflowService;
    await waitFor(
      `namespace ${namespace}`,
      async () => {
        try {
          await svc.describeNamespace({ namespace });
          return true;
        } catch (err) {
          if ((err as { code?: number }).code !== 5) throw err; // NOT_FOUND
        }
        await svc.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('720h') }).catch((err: { code?: number }) => {
          if (err.code !== 6) throw err; // ALREADY_EXISTS: a concurrent start made it
        });
        return undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );

    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([name]) => !(customAttributes && name in customAttributes));
    if (missing.length > 0) {
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, INDEXED_VALUE_TYPE[type]])),
      });
    }
    const query = Object.keys(SEARCH_ATTRIBUTES)
      .map((name) => `${name} IS NOT NULL`)
      .join(' AND ');
    await waitFor(
      'the search attributes',
      async () => {
        await svc.countWorkflowExecutions({ namespace, query });
        return true;
      },
      { timeoutMs: 120_000, intervalMs: 1_000 },
    );
  } finally {
    await connection.close();
  }
}

/** The variables the UI server and deploy/temporal-ui/docker.yaml read (docker-compose sets the template's ones). */
export function uiEnv(opts: { address: string; port: number; corsOrigins: string[] }): Record<string, string> {
  return {
    TEMPORAL_ROOT: REPO_ROOT,
    TEMPORAL_CONFIG_DIR: UI_CONFIG_DIR,
    TEMPORAL_ENVIRONMENT: 'docker',
    TEMPORAL_ADDRESS: opts.address,
    TEMPORAL_UI_HOST: '127.0.0.1',
    TEMPORAL_UI_PORT: String(opts.port),
    TEMPORAL_CORS_ORIGINS: opts.corsOrigins.join(','),
  };
}

/** The Web UI on 127.0.0.1:`port`, talking to `address`. */
export async function startTemporalUi(opts: {
  binary: string;
  address: string;
  port: number;
  corsOrigins: string[];
  logFile: string;
}): Promise<{ url: string; process: ManagedProcess }> {
  if (!(await isPortFree(opts.port))) throw new SetupError(`TEMPORAL_UI_PORT: port ${opts.port} on 127.0.0.1 is in use; set TEMPORAL_UI_PORT to a free port`);
  await access(join(REPO_ROOT, UI_CONFIG_DIR, 'docker.yaml'));
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...uiEnv(opts) };
  const proc = await startProcess('temporal-ui', opts.binary, ['start'], { env, logFile: opts.logFile });
  const url = `http://127.0.0.1:${opts.port}`;
  await waitFor(`the Temporal Web UI at ${url}`, async () => ((await fetch(url, { signal: AbortSignal.timeout(2_000) })).ok ? true : undefined), {
    timeoutMs: 30_000,
    abort: () => (proc.exit ? `exited (code ${proc.exit.code}); see ${opts.logFile}` : undefined),
  });
  return { url, process: proc };
}
