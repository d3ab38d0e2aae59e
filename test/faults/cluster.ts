/**
 * The production shape for the fault tests, every process started here: a PostgreSQL cluster of
 * the tests' own (.data/faults/postgres, so restarting it disturbs nobody), the Temporal server on
 * it, the compiled APIs and workers (`npm run build`), the SendGrid and Twilio fakes (the real
 * clients talk to them) and a webhook receiver fake, each counting what it accepts; a workspace
 * whose automation waits, then emails, texts and calls the webhook; and a steady load of events
 * through the APIs with client retries. Faults: kill or restart any process, restart PostgreSQL,
 * make the fakes fail.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import pg from 'pg';
import { createDb, type Db } from '#db/connection';
import { migrateToLatest } from '#db/migrate';
import { createWorkspaceWithKey } from '#db/workspaces';
import { FakeSendgrid, FakeTwilio } from '../helpers/fake-providers';
import { startLocalPostgres, type LocalPostgres } from '#scripts/provision/postgres';
import { freePort, isPortFree, runOk, startProcess, stopAllProcesses, type ManagedProcess } from '#scripts/provision/proc';
import { waitForApi, waitForWorker } from '#scripts/provision/lifecycle';
import { loadProvisionSettings, REPO_ROOT } from '#scripts/provision/settings';
import { serviceCommand } from '#scripts/provision/services';
import {
  ensureNamespace,
  ensureTemporalServer,
  setupTemporalSchema,
  startTemporalServer,
  TEMPORAL_DATABASES,
  type TemporalServer,
} from '#scripts/provision/temporal-server';

export const log = (line: string) => process.stderr.write(`[faults] ${line}\n`);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The webhook receiver's HTTP boundary: answers each POST per `mode`, counts 2xx answers per
 * Idempotency-Key (with when each was answered).
 */
export class ProviderFake {
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  /** Answer times (Date.now()) of the 2xx answers, per Idempotency-Key. */
  readonly accepted = new Map<string, number[]>();
  requests = 0;
  failed = 0;
  private server?: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.requests += 1;
      req.resume();
      req.on('end', () => {
        if (this.mode === 'hang') return; // the caller's timeout fires; the socket stays open
        if (this.mode === 'fail') {
          this.failed += 1;
          res.writeHead(500).end();
          return;
        }
        const key = String(req.headers['idempotency-key']);
        this.accepted.set(key, (this.accepted.get(key) ?? []).concat(Date.now()));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server!.address() as { port: number }).port}/hook`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}

interface Service {
  name: string;
  kind: 'api' | 'worker';
  port?: number;
  proc: ManagedProcess;
}

export interface Cluster {
  pg: LocalPostgres;
  db: Db;
  temporal: TemporalServer;
  apiUrls: string[];
  apiKey: string;
  workspaceId: string;
  /** The webhook receiver. */
  fake: ProviderFake;
  sendgrid: FakeSendgrid;
  twilio: FakeTwilio;
  services: Service[];
  /** Phone numbers handed to the loads' records so far: each record gets the next one, unique across scenarios. */
  contacts: number;
  /** SIGKILL (or SIGTERM) one service process. */
  kill(name: string, signal: NodeJS.Signals): Promise<void>;
  /** Starts a killed service again and waits until it is ready. */
  start(name: string): Promise<void>;
  restartTemporal(): Promise<void>;
  stop(): Promise<void>;
}

const DIR = () => join(loadProvisionSettings().dataDir, 'faults');

/**
 * `dir`: the folder for PostgreSQL's data and the logs (.data/faults unless given; the benchmarks use
 * their own); `env`: variables the services get besides (or instead of) the tests' own;
 * `providers`: email and SMS go to the SendGrid and Twilio fakes (else they are sandboxed, as the
 * benchmarks have them on the dev server too).
 */
export async function startCluster(opts: { apis: number; workers: number; dir?: string; env?: NodeJS.ProcessEnv; providers?: boolean }): Promise<Cluster> {
  const settings = loadProvisionSettings();
  const dir = opts.dir ?? DIR();
  await mkdir(dir, { recursive: true });
  const [tools, pgServer] = await Promise.all([
    ensureTemporalServer(settings.toolsDir, log),
    startLocalPostgres({ root: join(dir, 'postgres'), port: await freePort(), anyPort: true, log }),
    runOk('npm run build', process.execPath, ['--import', 'tsx', 'scripts/build.ts'], { cwd: REPO_ROOT }),
  ]);
  // A fresh state for every run: the service's database and Temporal's.
  const admin = new pg.Client({ connectionString: pgServer.url('postgres') });
  await admin.connect();
  for (const db of ['followup', ...TEMPORAL_DATABASES]) await admin.query(`drop database if exists ${db} with (force)`);
  await admin.query('create database followup');
  await admin.end();
  const databaseUrl = pgServer.url('followup');
  await setupTemporalSchema(tools.sqlTool, databaseUrl, log);
  const db = createDb(databaseUrl, { max: 4 });
  await migrateToLatest(db);
  const ws = await createWorkspaceWithKey(db, { name: 'faults' });

  const temporalPort = await freeBlock(9);
  const startServer = async () =>
    startTemporalServer({ binary: tools.server, databaseUrl, port: temporalPort, logFile: join(dir, 'temporal-server.log'), portVar: 'the fault tests' });
  let temporal = await startServer();
  await ensureNamespace(temporal.address, 'default');

  const fake = new ProviderFake();
  await fake.start();
  const sendgrid = await new FakeSendgrid().start();
  const twilio = await new FakeTwilio().start();
  // SendGrid reports each message it took to the Event Webhook (the only way to confirm an email whose answer was lost).
  const eventKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    LOG_FORMAT: 'json',
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporal.address,
    SECRETS_KEY: randomBytes(48).toString('base64'),
    WEBHOOK_ALLOW_PRIVATE: 'true',
    ROUTER_POLL_MS: '200',
    ...(opts.providers
      ? {
          SENDGRID_API_KEY: 'SG.faults',
          SENDGRID_API_URL: sendgrid.url,
          SENDGRID_WEBHOOK_PUBLIC_KEY: eventKeys.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
          TWILIO_ACCOUNT_SID: `AC${'f'.repeat(32)}`,
          TWILIO_AUTH_TOKEN: 'faults-token',
          TWILIO_API_URL: twilio.url,
          // A provider that takes a message and answers too late: the send is aborted after 4 s, the
          // message waits 5 s for a status callback, then it is `uncertain` (never sent again).
          SEND_TIMEOUT_MS: '4000',
          SEND_CONFIRM_GRACE_MS: '5000',
        }
      : {}),
  };
  const services: Service[] = [];
  for (let i = 0; i < opts.apis; i += 1)
    services.push({ name: `api-${i + 1}`, kind: 'api', port: await freePort(), proc: undefined as unknown as ManagedProcess });
  for (let i = 0; i < opts.workers; i += 1) services.push({ name: `worker-${i + 1}`, kind: 'worker', proc: undefined as unknown as ManagedProcess });

  const launch = async (s: Service) => {
    const command = serviceCommand(s.kind, true);
    s.proc = await startProcess(s.name, command[0]!, command.slice(1), {
      env: { ...env, ...opts.env, ...(s.port ? { PORT: String(s.port) } : {}) },
      cwd: REPO_ROOT,
      logFile: join(dir, `${s.name}.log`),
    });
    const abort = () => (s.proc.exit ? `exited (code ${s.proc.exit.code}); see ${dir}/${s.name}.log` : undefined);
    if (s.kind === 'api') await waitForApi(`http://127.0.0.1:${s.port}`, abort);
    else await waitForWorker(temporal.address, 'default', 'followups', s.proc.child.pid!, abort);
  };
  await Promise.all(services.map(launch));
  const apiUrls = services.filter((s) => s.kind === 'api').map((s) => `http://127.0.0.1:${s.port}`);
  if (opts.providers) sendgrid.eventWebhook = { apiUrls, privateKey: eventKeys.privateKey };
  const find = (name: string) => services.find((s) => s.name === name)!;

  const cluster: Cluster = {
    pg: pgServer,
    db,
    get temporal() {
      return temporal;
    },
    apiUrls,
    apiKey: ws.apiKey,
    workspaceId: ws.id,
    fake,
    sendgrid,
    twilio,
    services,
    contacts: 0,
    async kill(name, signal) {
      const s = find(name);
      s.proc.child.kill(signal);
      await s.proc.exited;
    },
    start: (name) => launch(find(name)),
    async restartTemporal() {
      await temporal.stop();
      temporal = await startServer();
    },
    async stop() {
      await Promise.all(services.map((s) => s.proc.stop(35_000)));
      await temporal.stop();
      await Promise.all([fake.stop(), sendgrid.stop(), twilio.stop()]);
      await db.destroy();
      if (pgServer.owned) await pgServer.stop();
      await stopAllProcesses();
    },
  };
  return cluster;
}

/** A free port followed by `n - 1` free ones (the Temporal server takes a block). */
async function freeBlock(n: number): Promise<number> {
  for (;;) {
    // Below 32768: Temporal stores membership ports as a PostgreSQL smallint.
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    let free = true;
    for (let p = base; p < base + n && free; p += 1) free = await isPortFree(p);
    if (free) return base;
  }
}

/** The automation every event enrolls into: a timer, then an email and an SMS to the record, and a webhook, each to its fake. */
export async function setUpAutomation(c: Cluster, waitSeconds: number): Promise<void> {
  const call = (method: string, path: string, body: unknown) =>
    fetch(`${c.apiUrls[0]}${path}`, {
      method,
      headers: { authorization: `Bearer ${c.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then(async (r) => {
      if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
      return (await r.json()) as { id: string };
    });
  const sender = { workspace_id: c.workspaceId, name: null, reply_to: null, messaging_service_sid: null, segments_per_second: null };
  await c.db
    .insertInto('senders')
    .values([
      { ...sender, id: 'snd_mail', channel: 'email', from: 'hello@faults.example', kind: null },
      // A short code (100 segments a second): the carrier's pace does not hold the load back.
      { ...sender, id: 'snd_sms', channel: 'sms', from: '+15005550006', kind: 'short_code' },
    ])
    .execute();
  // Sends go out whatever the hour the test runs at.
  await call('PUT', '/v1/settings', { quietHours: { sms: null }, defaultSenders: { email: 'snd_mail', sms: 'snd_sms' } });
  await call('POST', '/v1/templates', { id: 'tpl_mail', name: 'Mail', channel: 'email', content: { subject: 'Your order', text: 'Thanks for your order.' } });
  await call('POST', '/v1/templates', { id: 'tpl_sms', name: 'Text', channel: 'sms', content: { body: 'Thanks for your order.' } });
  const endpoint = await call('POST', '/v1/webhook-endpoints', { url: c.fake.url });
  const automation = await call('POST', '/v1/automations', {
    name: 'Fault load',
    trigger: { type: 'event', event: 'order.placed' },
    steps: [
      { id: 'pause', type: 'wait', duration: `PT${waitSeconds}S` },
      // To the record's own address and number (startLoad gives every record its own, as real traffic has): a
      // send whose answer was lost is then told apart from the others by Twilio's lookup (recipient, sender, body).
      { id: 'mail', type: 'email', to: 'record', template: 'tpl_mail' },
      { id: 'text', type: 'sms', to: 'record', template: 'tpl_sms' },
      { id: 'notify', type: 'webhook', endpoint: endpoint.id },
    ],
  });
  await call('POST', `/v1/automations/${automation.id}/activate`, { onlyNew: true });
}

/** What a load run saw from the client side. */
export interface LoadStats {
  sent: number;
  accepted: Set<string>;
  duplicates: number;
  retries: number;
  statuses: Map<number, number>;
  networkErrors: number;
  hangs: number;
  retryAfterMissing: number;
  lastFailureAt?: number;
  firstFailureAt?: number;
}

/**
 * A steady load: `perSecond` events a second, each for a new record, upserted first with its own email
 * address and phone number (PUT /v1/records), then the event with a new id, sent round-robin to the
 * APIs; a failed attempt (network error, 5xx, no answer in 15 s) is retried, the same request on the
 * next API, after Retry-After when there is one (at most 2 s here), until it is answered 2xx.
 */
export function startLoad(c: Cluster, prefix: string, perSecond: number) {
  const stats: LoadStats = { sent: 0, accepted: new Set(), duplicates: 0, retries: 0, statuses: new Map(), networkErrors: 0, hangs: 0, retryAfterMissing: 0 };
  let running = true;
  let n = 0;
  const inFlight = new Set<Promise<void>>();
  const failure = () => {
    stats.lastFailureAt = Date.now();
    stats.firstFailureAt ??= Date.now();
  };
  /** Sends one request until it is answered 2xx (the first API tried is the `i`th); returns the answer's body. */
  const untilAnswered = async (i: number, method: string, path: string, body: string): Promise<{ status?: string }> => {
    for (let attempt = 0; ; attempt += 1) {
      const url = c.apiUrls[(i + attempt) % c.apiUrls.length]!;
      if (attempt > 0) stats.retries += 1;
      try {
        const res = await fetch(`${url}${path}`, {
          method,
          headers: { authorization: `Bearer ${c.apiKey}`, 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(15_000),
        });
        stats.statuses.set(res.status, (stats.statuses.get(res.status) ?? 0) + 1);
        const answer = (await res.json().catch(() => ({}))) as { status?: string };
        if (res.ok) return answer;
        failure();
        let wait = 200;
        if (res.status === 503) {
          const after = Number(res.headers.get('retry-after'));
          if (!Number.isFinite(after) || after <= 0) stats.retryAfterMissing += 1;
          else wait = Math.min(after * 1000, 2_000);
        }
        await sleep(wait);
      } catch (err) {
        failure();
        if ((err as Error).name === 'TimeoutError') stats.hangs += 1;
        else stats.networkErrors += 1;
        await sleep(200);
      }
    }
  };
  const sendOne = async (i: number, contact: number) => {
    const id = `${prefix}-${i}`;
    const recordId = `${prefix}-rec-${i}`;
    const record = { email: `${recordId}@faults.example`, phone: `+1555${String(contact).padStart(7, '0')}` };
    await untilAnswered(i, 'PUT', `/v1/records/${recordId}`, JSON.stringify(record));
    const answer = await untilAnswered(i, 'POST', '/v1/events', JSON.stringify({ id, type: 'order.placed', recordId, properties: { n: i } }));
    if (answer.status === 'duplicate') stats.duplicates += 1;
    stats.accepted.add(id);
  };
  const loop = (async () => {
    const t0 = Date.now();
    while (running) {
      const due = t0 + (n * 1000) / perSecond;
      if (due > Date.now()) await sleep(due - Date.now());
      const i = n;
      n += 1;
      stats.sent += 1;
      c.contacts += 1;
      const p = sendOne(i, c.contacts).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
  })();
  return {
    stats,
    /** Stops sending new events and waits until every event sent has been answered 202. */
    async stop(): Promise<LoadStats> {
      running = false;
      await loop;
      await Promise.all(inFlight);
      return stats;
    },
  };
}

export interface Outcome {
  accepted: number;
  stored: number;
  routed: number;
  enrollmentsExpected: number;
  enrollmentsStarted: number;
  /** Emails and SMS, counted at the SendGrid and Twilio fakes. */
  messagesExpected: number;
  messagesAccepted: number;
  /** Messages whose provider took them without answering in time: never resent (at most once). */
  uncertain: { email: number; sms: number };
  /** Webhook calls, counted at the receiver fake. */
  callsExpected: number;
  callsAccepted: number;
  doubles: number;
  /** What was accepted twice: `<channel> <message id> (<status>)`, `webhook <key>`. */
  doubled: string[];
  lost: number;
  /** When the scenario's last message or call was accepted at a fake (Date.now()). */
  lastEffectAt: number;
  settleSeconds: number;
}

/**
 * Waits (up to `timeoutMs`) until every accepted event has its enrollment, its email and SMS
 * accepted at the provider fakes (and their rows settled) and its webhook accepted at the
 * receiver, then counts where it happened: events in PostgreSQL, enrollments started from them,
 * messages and calls at the fakes (a message row only names which message a request was).
 */
export async function settle(c: Cluster, stats: LoadStats, timeoutMs: number): Promise<Outcome> {
  const ids = [...stats.accepted];
  const t0 = Date.now();
  const count = async () => {
    const stored = Number(
      (
        await c.db
          .selectFrom('events')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('workspace_id', '=', c.workspaceId)
          .where('id', 'in', ids)
          .executeTakeFirstOrThrow()
      ).n,
    );
    const enrollments = await c.db
      .selectFrom('enrollments')
      .select(['id', 'trigger_event_id'])
      .where('workspace_id', '=', c.workspaceId)
      .where('trigger_event_id', 'in', ids)
      .execute();
    const pending = Number(
      (
        await c.db
          .selectFrom('outbox')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('workspace_id', '=', c.workspaceId)
          .executeTakeFirstOrThrow()
      ).n,
    );
    const enrollmentIds = new Set(enrollments.map((e) => e.id));
    const messages = enrollmentIds.size
      ? await c.db
          .selectFrom('messages')
          .select(['id', 'channel', 'status'])
          .where('workspace_id', '=', c.workspaceId)
          .where('enrollment_id', 'in', [...enrollmentIds])
          .execute()
      : [];
    const fakeOf = (m: { channel: string }) => (m.channel === 'email' ? c.sendgrid : c.twilio);
    const atFake = messages.map((m) => fakeOf(m).acceptedFor(m.id));
    // The webhook's idempotency key is `<enrollment id>:<step id>:<visit>`.
    const calls = [...c.fake.accepted].filter(([k]) => enrollmentIds.has(k.split(':')[0]!));
    const times = (at: number[]) => at.map((t) => new Date(t).toISOString().slice(11, 23)).join(' & ');
    return {
      stored,
      routed: pending === 0 ? new Set(enrollments.map((e) => e.trigger_event_id)).size : 0,
      started: enrollments.length,
      messages: atFake.filter((n) => n > 0).length,
      unsettled: messages.filter((m) => m.status === 'queued' || m.status === 'sending').length,
      uncertain: {
        email: messages.filter((m) => m.status === 'uncertain' && m.channel === 'email').length,
        sms: messages.filter((m) => m.status === 'uncertain' && m.channel === 'sms').length,
      },
      calls: calls.length,
      doubles: atFake.filter((n) => n > 1).length + calls.filter(([, at]) => at.length > 1).length,
      doubled: [
        ...messages.filter((_, i) => atFake[i]! > 1).map((m) => `${m.channel} ${m.id} (${m.status})`),
        ...calls.filter(([, at]) => at.length > 1).map(([k, at]) => `webhook ${k} (answered ${times(at)})`),
      ],
      lastEffectAt: Math.max(0, ...messages.map((m) => fakeOf(m).lastAcceptedAt(m.id) ?? 0), ...calls.map(([, at]) => at.at(-1)!)),
    };
  };
  const none = {
    stored: 0,
    routed: 0,
    started: 0,
    messages: 0,
    unsettled: 0,
    uncertain: { email: 0, sms: 0 },
    calls: 0,
    doubles: 0,
    doubled: [] as string[],
    lastEffectAt: 0,
  };
  const done = (l: typeof none) =>
    l.started === ids.length && l.routed === ids.length && l.messages === 2 * ids.length && l.unsettled === 0 && l.calls === ids.length;
  let last = await count().catch(() => none);
  while (Date.now() - t0 < timeoutMs && !done(last)) {
    await sleep(1_000);
    last = await count().catch(() => last);
  }
  return {
    accepted: ids.length,
    stored: last.stored,
    routed: last.routed,
    enrollmentsExpected: ids.length,
    enrollmentsStarted: last.started,
    messagesExpected: 2 * ids.length,
    messagesAccepted: last.messages,
    uncertain: last.uncertain,
    callsExpected: ids.length,
    callsAccepted: last.calls,
    doubles: last.doubles,
    doubled: last.doubled,
    lost: 3 * ids.length - last.messages - last.calls,
    lastEffectAt: last.lastEffectAt,
    settleSeconds: Math.round((Date.now() - t0) / 1000),
  };
}

/** One line per scenario in .data/faults/report.md and on stderr. */
export async function report(scenario: string, o: Outcome, stats: LoadStats, extra: string): Promise<void> {
  const statuses = [...stats.statuses]
    .sort(([a], [b]) => a - b)
    .map(([s, n]) => `${s}x${n}`)
    .join(' ');
  const line =
    `| ${scenario} | ${o.accepted} / ${o.stored} / ${o.routed} | ${o.enrollmentsExpected} / ${o.enrollmentsStarted} | ${o.messagesExpected} / ${o.messagesAccepted} (uncertain: ${o.uncertain.email} email, ${o.uncertain.sms} SMS) | ${o.callsExpected} / ${o.callsAccepted} | ${o.doubles} | ${o.lost} | ` +
    `${statuses}; ${stats.retries} retries, ${stats.networkErrors} network errors, ${stats.hangs} hangs | ${extra}; settled ${o.settleSeconds}s after the load |`;
  log(line);
  if (o.doubled.length) log(`${scenario}: accepted twice: ${o.doubled.join(', ')}`);
  const { appendFile } = await import('node:fs/promises');
  await appendFile(join(DIR(), 'report.md'), `${line}\n`);
}

export async function startReport(): Promise<void> {
  await mkdir(DIR(), { recursive: true });
  await writeFile(
    join(DIR(), 'report.md'),
    `# npm run test:faults, ${new Date().toISOString()}\n\n| scenario | events accepted / stored / routed | enrollments expected / started | messages (email + SMS) expected / accepted at the fakes | webhook calls expected / accepted at the fake | doubles | lost | client saw | recovery |\n| --- | --- | --- | --- | --- | ---: | ---: | --- | --- |\n`,
  );
}
