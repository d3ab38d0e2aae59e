/**
 * Shared by the engine-*.test.ts files: the API (startTestApp) and the worker (router + Temporal
 * worker, in-process or as a child process) on the provisioned PostgreSQL and Temporal dev server,
 * on a task queue of their own, and small helpers to call the API and wait for effects.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { sql } from 'kysely';
import { pino } from 'pino';
import { expect } from 'vitest';
import type { Db } from '#db/connection';
import { loadConfig, type Config } from '#platform/config';
import { startEngine, type Engine } from '#services/worker/worker';
import { startTestApp, type TestApp } from '../helpers/app';
import { serviceEnv } from '../helpers/env';

export interface EngineTest {
  t: TestApp;
  config: Config;
  temporal: Client;
  engine: Engine | undefined;
  api<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  startWorker(): Promise<Engine>;
  stopWorker(): Promise<void>;
  /** The real worker process (services/worker/main.ts); kill it with SIGKILL to simulate a crash. */
  spawnWorker(env?: NodeJS.ProcessEnv): Promise<ChildProcess>;
  close(): Promise<void>;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export async function startEngineTest(opts: { worker?: boolean; env?: Record<string, string> } = {}): Promise<EngineTest> {
  const taskQueue = `engine-test-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const env = serviceEnv({ TEMPORAL_TASK_QUEUE: taskQueue, ROUTER_POLL_MS: '250', LOG_LEVEL: 'warn', ...opts.env });
  const config = loadConfig(env);
  const t = await startTestApp({
    config: {
      TEMPORAL_TASK_QUEUE: taskQueue,
      TEMPORAL_ADDRESS: config.TEMPORAL_ADDRESS,
      // The dashboard links enrollments to the run's own Temporal Web UI.
      TEMPORAL_UI_URL: config.TEMPORAL_UI_URL,
      SWEEP_INTERVAL: config.SWEEP_INTERVAL,
      // What the provider webhooks and unsubscribe links need, the same as the worker's.
      PUBLIC_URL: config.PUBLIC_URL,
      SECRETS_KEY: config.SECRETS_KEY,
      TWILIO_ACCOUNT_SID: config.TWILIO_ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: config.TWILIO_AUTH_TOKEN,
      SENDGRID_WEBHOOK_PUBLIC_KEY: config.SENDGRID_WEBHOOK_PUBLIC_KEY,
    },
  });
  const temporal = new Client({ connection: await Connection.connect({ address: config.TEMPORAL_ADDRESS }), namespace: config.TEMPORAL_NAMESPACE });
  const logger = pino({ level: 'warn' });
  const children: ChildProcess[] = [];
  const self: EngineTest = {
    t,
    config,
    temporal,
    engine: undefined,
    async api(method, path, body) {
      const send = () =>
        fetch(`${t.baseUrl}${path}`, {
          method,
          headers: { authorization: `Bearer ${t.apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
      // A kept-alive socket the server closed meanwhile resets before the request is read: send again.
      const res = await send().catch((err: Error & { cause?: { code?: string } }) => {
        if (err.cause?.code === 'ECONNRESET') return send();
        throw err;
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    async startWorker() {
      self.engine = await startEngine({ config, logger, temporal, worker: { identity: `engine-test-${process.pid}-${Date.now()}` } });
      return self.engine;
    },
    async stopWorker() {
      const e = self.engine;
      self.engine = undefined;
      await e?.shutdown();
    },
    async spawnWorker(extra = {}) {
      const child = spawn(process.execPath, ['--import', 'tsx', 'services/worker/main.ts'], {
        cwd: ROOT,
        // A free metrics port: several workers run side by side.
        env: { ...env, LOG_FORMAT: 'json', LOG_LEVEL: 'info', WORKER_METRICS_PORT: '0', ...extra },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let output = '';
      child.stderr!.on('data', (d) => {
        output += String(d);
      });
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d) => {
          output += String(d);
          if (output.includes('"worker started"')) resolve();
        });
        child.on('exit', (code) => reject(new Error(`worker exited with ${code}: ${output.slice(-2000)}`)));
      });
      return child;
    },
    async close() {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await self.stopWorker();
      await temporal.connection.close();
      await t.close();
    },
  };
  if (opts.worker !== false) await self.startWorker();
  return self;
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false | null>, timeoutMs = 90_000, everyMs = 200): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last ? `: ${last instanceof Error ? last.message : JSON.stringify(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Creates templates by id (email unless given) and an automation; activates it unless `activate: false`. */
export async function createAutomation(
  e: EngineTest,
  definition: Record<string, unknown>,
  opts: { templates?: Array<{ id: string; channel?: string; content?: Record<string, string> }>; activate?: boolean; onlyNew?: boolean } = {},
): Promise<{ id: string }> {
  for (const tpl of opts.templates ?? []) {
    const channel = tpl.channel ?? 'email';
    const content =
      tpl.content ??
      (channel === 'email'
        ? { subject: `${tpl.id} for {{ record.name }}`, html: `<p>${tpl.id}</p>`, text: `${tpl.id}` }
        : channel === 'task'
          ? { title: `${tpl.id}` }
          : { body: `${tpl.id} {{ record.name }}` });
    const res = await e.api('POST', '/v1/templates', { id: tpl.id, name: tpl.id, channel, content });
    if (res.status !== 201 && res.status !== 409) throw new Error(`template ${tpl.id}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  const created = await e.api('POST', '/v1/automations', definition);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = created.body.id as string;
  if (opts.activate !== false) {
    const act = await e.api('POST', `/v1/automations/${id}/activate`, { onlyNew: opts.onlyNew ?? true });
    expect(act.status, JSON.stringify(act.body)).toBe(200);
  }
  return { id };
}

export async function putRecord(e: EngineTest, externalId: string, body: Record<string, unknown> = {}): Promise<void> {
  const res = await e.api('PUT', `/v1/records/${externalId}`, { name: `Name ${externalId}`, email: `${externalId}@example.com`, ...body });
  expect([200, 201], JSON.stringify(res.body)).toContain(res.status);
}

export interface EnrollmentFault {
  /** Enrollments whose column holds this value are refused from now on. */
  refuse(value: string): Promise<void>;
  /** Every refused value is let through again. */
  allowAll(): Promise<void>;
  /** Removes the trigger and its table (afterAll). */
  remove(): Promise<void>;
}

/**
 * A real PostgreSQL fault for router tests: a trigger refuses the enrollment insert (so the outbox
 * row that causes it fails and is retried) while its `column` value is listed in table `name`.
 */
export async function enrollmentFault(db: Db, name: string, column: 'record_id' | 'automation_id'): Promise<EnrollmentFault> {
  await sql.raw(`create table ${name} (${column} text primary key)`).execute(db);
  await sql
    .raw(
      `create function ${name}_fn() returns trigger language plpgsql as $$
       begin
         if exists (select 1 from ${name} f where f.${column} = new.${column}) then
           raise exception 'injected fault: enrollment with ${column} % refused', new.${column};
         end if;
         return new;
       end $$`,
    )
    .execute(db);
  await sql.raw(`create trigger ${name}_trg before insert on enrollments for each row execute function ${name}_fn()`).execute(db);
  return {
    refuse: async (value) => void (await sql`insert into ${sql.table(name)} values (${value})`.execute(db)),
    allowAll: async () => void (await sql`delete from ${sql.table(name)}`.execute(db)),
    async remove() {
      await sql
        .raw(`drop trigger if exists ${name}_trg on enrollments`)
        .execute(db)
        .catch(() => undefined);
      await sql
        .raw(`drop function if exists ${name}_fn()`)
        .execute(db)
        .catch(() => undefined);
      await sql
        .raw(`drop table if exists ${name}`)
        .execute(db)
        .catch(() => undefined);
    },
  };
}
