/**
 * `startTestApp()`: the API on the test database, listening on 127.0.0.1:0, with a fresh workspace
 * and key, and the typed client bound to it. Each call makes a new workspace, so test files can
 * share one database and run in parallel without seeing each other's rows.
 *
 * The database URL comes from test/helpers/env.ts when the platform provisioning provides it, else
 * from TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:55432/api_test). Migrations run
 * once per process.
 */
import { sql } from 'kysely';
import { Client, Connection } from '@temporalio/client';
import { buildApp, type App } from '#services/api/app';
import { loadConfig, type Config } from '#platform/config';
import { createDb, type Db } from '#db/connection';
import { migrateToLatest } from '#db/migrate';
import { createWorkspaceWithKey } from '#db/workspaces';
import { createApiClient, type ApiClient } from '../client';

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface TestApp {
  app: App;
  db: Db;
  workspaceId: string;
  apiKey: string;
  /** Typed client with the workspace's key. */
  client: ApiClient;
  /** http://127.0.0.1:<port> */
  baseUrl: string;
  /** A typed client with another key (or none). */
  clientWith(apiKey?: string): ApiClient;
  /** A second workspace on the same app, for tenancy tests. */
  otherWorkspace(): Promise<{ workspaceId: string; apiKey: string; client: ApiClient }>;
  close(): Promise<void>;
}

interface TestEnv {
  databaseUrl: string;
  temporalAddress?: string;
}

async function testEnv(): Promise<TestEnv> {
  // The platform's helper, when it exists, knows the provisioned database and Temporal.
  try {
    const path = './env';
    const mod = (await import(/* @vite-ignore */ path)) as Record<string, unknown>;
    const fn = (mod.testEnv ?? mod.getTestEnv ?? mod.default) as (() => unknown) | undefined;
    const value = (typeof fn === 'function' ? await fn() : mod) as Record<string, unknown>;
    const databaseUrl = (value.databaseUrl ?? value.DATABASE_URL ?? mod.TEST_DATABASE_URL) as string | undefined;
    const temporalAddress = (value.temporalAddress ?? value.TEMPORAL_ADDRESS) as string | undefined;
    if (databaseUrl) return { databaseUrl, temporalAddress };
  } catch {
    /* not provisioned by the platform helper: fall back to the environment */
  }
  return {
    databaseUrl: process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:55432/api_test',
    temporalAddress: process.env.TEST_TEMPORAL_ADDRESS,
  };
}

let migrated: Promise<unknown> | undefined;

export async function startTestApp(opts: { config?: Partial<Config> } = {}): Promise<TestApp> {
  const env = await testEnv();
  const config = {
    ...loadConfig({
      DATABASE_URL: env.databaseUrl,
      LOG_LEVEL: 'silent',
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      NODE_ENV: 'test',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      ...(env.temporalAddress ? { TEMPORAL_ADDRESS: env.temporalAddress } : {}),
    }),
    ...opts.config,
  } as Config;
  const db = createDb(config.DATABASE_URL, { max: 5 });
  migrated ??= migrateToLatest(db);
  await migrated;
  // Lazy: nothing connects unless a test asks /readyz.
  const temporal = new Client({ connection: Connection.lazy({ address: config.TEMPORAL_ADDRESS }), namespace: config.TEMPORAL_NAMESPACE });
  const app = await buildApp({ db, temporal, config, logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const ws = await createWorkspaceWithKey(db, { name: `test-${Date.now()}-${Math.random().toString(36).slice(2, 8)}` });
  const clientWith = (apiKey?: string) => createApiClient(baseUrl, apiKey);
  return {
    app,
    db,
    workspaceId: ws.id,
    apiKey: ws.apiKey,
    client: clientWith(ws.apiKey),
    baseUrl,
    clientWith,
    async otherWorkspace() {
      const other = await createWorkspaceWithKey(db, { name: `test-other-${Math.random().toString(36).slice(2, 8)}` });
      return { workspaceId: other.id, apiKey: other.apiKey, client: clientWith(other.apiKey) };
    },
    async close() {
      await app.close();
      await temporal.connection.close().catch(() => undefined);
      await db.destroy();
    },
  };
}

/** Tables that hold a workspace's rows, and how to find them. */
const WORKSPACE_TABLES: Array<[string, string]> = [
  ['api_keys', 'workspace_id'],
  ['users', 'workspace_id'],
  ['records', 'workspace_id'],
  ['events', 'workspace_id'],
  ['outbox', 'workspace_id'],
  ['templates', 'workspace_id'],
  ['template_versions', 'workspace_id'],
  ['automations', 'workspace_id'],
  ['automation_versions', 'workspace_id'],
  ['enrollments', 'workspace_id'],
  ['messages', 'workspace_id'],
  ['tasks', 'workspace_id'],
  ['webhook_endpoints', 'workspace_id'],
  ['message_events', 'workspace_id'],
  ['inbound_messages', 'workspace_id'],
  ['suppressions', 'workspace_id'],
  ['inbound_parse_secrets', 'workspace_id'],
  ['senders', 'workspace_id'],
  ['provider_credentials', 'workspace_id'],
];

/**
 * A fingerprint of everything a workspace owns: row count and a hash of the rows of every table.
 * Compare before and after a rejected request: bad input changes nothing.
 */
export async function snapshotWorkspace(db: Db, workspaceId: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [table, column] of WORKSPACE_TABLES) {
    const { rows } = await sql<{ n: number; h: string | null }>`
      select count(*)::int as n, md5(string_agg(t::text, '|' order by t::text)) as h
      from ${sql.table(table)} t where ${sql.ref(column)} = ${workspaceId}`.execute(db);
    out[table] = `${rows[0]?.n ?? 0}:${rows[0]?.h ?? '-'}`;
  }
  return out;
}

/**
 * Runs a request that must be rejected and asserts that the workspace's rows did not change.
 * Returns whatever `fn` returns (the response, for status and problem checks).
 */
export async function unchangedAfter<T>(t: Pick<TestApp, 'db' | 'workspaceId'>, fn: () => Promise<T>): Promise<T> {
  const before = await snapshotWorkspace(t.db, t.workspaceId);
  const result = await fn();
  const after = await snapshotWorkspace(t.db, t.workspaceId);
  if (JSON.stringify(after) !== JSON.stringify(before)) {
    throw new Error(`the workspace changed after a rejected request:\nbefore ${JSON.stringify(before)}\nafter  ${JSON.stringify(after)}`);
  }
  return result;
}

/**
 * A raw HTTP request for what the typed client cannot send (malformed JSON, other content types,
 * huge bodies). `key: null` sends no Authorization header. Answers status, headers and parsed body.
 */
export async function rawRequest(
  t: Pick<TestApp, 'baseUrl' | 'apiKey'>,
  method: string,
  path: string,
  opts: { body?: string | Buffer; contentType?: string | null; key?: string | null; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: any }> {
  const headers: Record<string, string> = { ...opts.headers };
  const key = opts.key === undefined ? t.apiKey : opts.key;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (opts.body !== undefined && opts.contentType !== null) headers['content-type'] = opts.contentType ?? 'application/json';
  const res = await fetch(t.baseUrl + path, { method, headers, body: opts.body as BodyInit | undefined });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, body };
}
