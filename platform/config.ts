/**
 * The one place that reads the environment. One TypeBox schema gives defaults, types and the
 * messages shown when a value is wrong; every service and script goes through loadConfig().
 */
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { parseDuration } from '#domain/duration';

/** Lets `npm start` and `npm test` run with nothing configured; refused in production. */
export const DEV_SECRETS_KEY = 'development-only-secrets-key-do-not-use-in-production';

const MIN_SWEEP_INTERVAL_MS = 10_000;

/** SWEEP_INTERVAL in milliseconds (checked by loadConfig). */
export const sweepIntervalMs = (c: Pick<Config, 'SWEEP_INTERVAL'>): number => parseDuration(c.SWEEP_INTERVAL)!.clockMillis;

const Port = (fallback: number, description: string) => Type.Integer({ minimum: 1, maximum: 65535, default: fallback, description });

export const ConfigSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('test'), Type.Literal('production')], { default: 'development' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Interface the API listens on' }),
  PORT: Port(3000, 'API port'),
  DATABASE_URL: Type.String({ minLength: 1, description: 'postgres://user:pass@host:port/db' }),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 200, default: 10 }),
  TEMPORAL_ADDRESS: Type.String({ minLength: 1, default: '127.0.0.1:7233', description: 'host:port of the Temporal frontend' }),
  TEMPORAL_NAMESPACE: Type.String({ minLength: 1, default: 'default' }),
  TEMPORAL_TASK_QUEUE: Type.String({ minLength: 1, default: 'followups' }),
  TEMPORAL_UI_URL: Type.String({ default: 'http://127.0.0.1:8233', description: 'Printed and linked; the Web UI itself is served by Temporal' }),
  TEMPORAL_WORKFLOW_BUNDLE: Type.Optional(
    Type.String({ minLength: 1, description: 'A file of the workflow code bundled by the SDK, for the worker to load; unset: it bundles workflows/ at start' }),
  ),
  ADMIN_TOKEN: Type.Optional(Type.String({ minLength: 16, description: 'Enables POST /admin/workspaces' })),
  RATE_LIMIT_PER_MINUTE: Type.Integer({
    minimum: 1,
    default: 12000,
    description: 'Requests per API key per minute in each API process, unless the workspace has its own (PATCH /admin/workspaces/{id})',
  }),
  AUTH_FAILURES_PER_MINUTE: Type.Integer({
    minimum: 1,
    default: 30,
    description: 'Failed authentications per client address (IPv6: per /64) per minute before it is answered 429 without a key lookup',
  }),
  TRUST_PROXY: Type.Optional(
    Type.String({
      minLength: 1,
      description: "Addresses or CIDRs (comma-separated) of the reverse proxies whose X-Forwarded-For names the client; unset: the peer's address",
    }),
  ),
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, default: 1048576 }),
  ROUTER_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 5000, default: 500 }),
  ROUTER_POLL_MS: Type.Integer({ minimum: 50, default: 1000, description: 'Fallback poll when no NOTIFY arrives' }),
  ROUTER_MAX_ATTEMPTS: Type.Integer({
    minimum: 1,
    maximum: 100,
    default: 10,
    description: 'Failures after which an outbox row is parked in outbox_dead_letters',
  }),
  WORKER_METRICS_PORT: Type.Integer({
    minimum: 0,
    maximum: 65535,
    default: 9464,
    description: "The worker's Prometheus endpoint (GET /metrics on HOST); 0: a free port",
  }),
  RECONCILE_INTERVAL_MS: Type.Integer({
    minimum: 200,
    default: 60000,
    description: 'How often the worker ends enrollment rows whose workflow Temporal closed',
  }),
  PUBLIC_URL: Type.Optional(Type.String({ minLength: 1, description: 'This API as providers see it; default http://127.0.0.1:$PORT' })),
  SECRETS_KEY: Type.String({
    minLength: 32,
    default: DEV_SECRETS_KEY,
    description: 'Root of every key derived by the service (unsubscribe tokens, stored credentials)',
  }),
  SENDGRID_API_KEY: Type.Optional(
    Type.String({ minLength: 1, description: 'Service-wide SendGrid key; unset: email is sandboxed unless a workspace brings its own' }),
  ),
  SENDGRID_API_URL: Type.String({ pattern: '^https?://', default: 'https://api.sendgrid.com', description: "Where @sendgrid/mail's requests go" }),
  TWILIO_ACCOUNT_SID: Type.Optional(Type.String({ pattern: '^AC[0-9a-fA-F]{32}$', description: 'Service-wide Twilio account' })),
  TWILIO_AUTH_TOKEN: Type.Optional(Type.String({ minLength: 1 })),
  TWILIO_API_URL: Type.String({ pattern: '^https?://', default: 'https://api.twilio.com', description: "Where twilio's Messages and Calls requests go" }),
  SENDGRID_WEBHOOK_PUBLIC_KEY: Type.Optional(
    Type.String({ minLength: 40, description: "The Signed Event Webhook's ECDSA public key (base64 DER, as SendGrid shows it)" }),
  ),
  WEBHOOK_ALLOW_PRIVATE: Type.Boolean({ default: false, description: 'Let outbound webhooks reach loopback, private and link-local addresses' }),
  WEBHOOK_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    maximum: 60000,
    default: 10000,
    description: 'One outbound webhook request (notifications, webhook steps)',
  }),
  WEBHOOK_MAX_ATTEMPTS: Type.Integer({
    minimum: 1,
    maximum: 1000,
    default: 20,
    description:
      'Attempts after which a failing notification delivery is parked in outbox_dead_letters (20 at the default base delay: about 13 hours; a day at most)',
  }),
  WEBHOOK_RETRY_BASE_MS: Type.Integer({
    minimum: 10,
    default: 30000,
    description: 'First retry delay of a notification; doubles per attempt, at most an hour, for a day',
  }),
  SEND_TIMEOUT_MS: Type.Integer({ minimum: 1000, maximum: 60000, default: 20000, description: 'One provider HTTP request' }),
  SEND_CONFIRM_GRACE_MS: Type.Integer({
    minimum: 0,
    default: 600000,
    description: 'How long a send whose outcome was lost waits for the provider to confirm it before it is uncertain',
  }),
  SEND_VALIDITY_MS: Type.Integer({
    minimum: 1000,
    default: 14_400_000,
    description: "A message that would wait for send capacity longer than this after it was queued fails as expired (Twilio's default validity, 4 h)",
  }),
  SENDGRID_SENDS_PER_SECOND: Type.Number({
    minimum: 0,
    default: 100,
    description:
      'Emails per second per workspace through SendGrid, across all workers (0: no limit); the default of a workspace setting none (PUT /v1/settings sendsPerSecond)',
  }),
  TWILIO_SENDS_PER_SECOND: Type.Number({
    minimum: 0,
    default: 100,
    description:
      'SMS and calls per second per workspace through Twilio, across all workers (0: no limit; the default of a workspace setting none); each SMS sender has its own limit too',
  }),
  SWEEP_INTERVAL: Type.String({
    default: 'PT5M',
    description: 'How often each workspace sweeps its date and inactivity triggers (ISO-8601 duration, at least PT10S)',
  }),
});
/** PUBLIC_URL is always filled in (from PORT when unset) and never ends with a slash. */
export type Config = Omit<Static<typeof ConfigSchema>, 'PUBLIC_URL'> & { PUBLIC_URL: string };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function semanticProblems(c: Config): string[] {
  const problems: string[] = [];
  let url: URL | undefined;
  try {
    url = new URL(c.DATABASE_URL);
  } catch {
    problems.push(`DATABASE_URL: "${redact(c.DATABASE_URL)}" is not a URL (expected postgres://user:password@host:port/database)`);
  }
  if (url && !['postgres:', 'postgresql:'].includes(url.protocol)) {
    problems.push(`DATABASE_URL: protocol "${url.protocol}" is not postgres: or postgresql:`);
  }
  if (url && !url.pathname.replace('/', '')) problems.push('DATABASE_URL: names no database (add /<database> after the host)');
  if (!/^[^:\s]+:\d{1,5}$/.test(c.TEMPORAL_ADDRESS)) {
    problems.push(`TEMPORAL_ADDRESS: "${c.TEMPORAL_ADDRESS}" is not host:port`);
  }
  if (!/^https?:\/\/[^\s/]+(\/\S*)?$/.test(c.PUBLIC_URL)) {
    problems.push(`PUBLIC_URL: "${c.PUBLIC_URL}" is not an http(s) URL`);
  }
  if (Boolean(c.TWILIO_ACCOUNT_SID) !== Boolean(c.TWILIO_AUTH_TOKEN)) {
    problems.push('TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN: set both or neither');
  }
  const sweep = parseDuration(c.SWEEP_INTERVAL);
  if (!sweep || sweep.sign < 0 || Object.values(sweep.calendar).some((n) => n > 0) || sweep.clockMillis < MIN_SWEEP_INTERVAL_MS) {
    problems.push(`SWEEP_INTERVAL: "${c.SWEEP_INTERVAL}" is not an ISO-8601 duration in hours, minutes or seconds of at least PT10S (e.g. PT5M)`);
  }
  if (c.NODE_ENV === 'production' && c.SECRETS_KEY === DEV_SECRETS_KEY) {
    problems.push('SECRETS_KEY: must be set in production (at least 32 random characters, e.g. `openssl rand -base64 48`)');
  }
  return problems;
}

/**
 * A connection URL with its passwords masked, fit for messages and logs: the user-info password
 * (up to the LAST @, since a password may hold one) and `password=`/`sslpassword=` parameters.
 */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):.*@/, '//$1:***@').replace(/([?&](?:ssl)?password=)[^&#]*/gi, '$1***');
}

/** Variables whose values are secrets: never shown in a message, only their length. */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set(['ADMIN_TOKEN', 'SECRETS_KEY', 'SENDGRID_API_KEY', 'TWILIO_AUTH_TOKEN']);
/** Variables holding connection URLs, shown with `redact`. */
const URL_VARIABLES: ReadonlySet<string> = new Set(['DATABASE_URL']);

/** A variable's value as a message may show it. */
export function shownValue(key: string, value: string): string {
  if (SECRET_VARIABLES.has(key)) return `${value.length} characters, hidden`;
  return URL_VARIABLES.has(key) ? redact(value) : value;
}

/** Reads and validates the environment; throws ConfigError listing every bad variable at once. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(ConfigSchema.properties)) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const candidate = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, raw)) as Record<string, unknown>;
  // Checked variable by variable so that every bad one is reported, not only the first.
  const problems: string[] = [];
  for (const [key, schema] of Object.entries(ConfigSchema.properties)) {
    const value = candidate[key];
    if (value === undefined) {
      if ((ConfigSchema.required as readonly string[] | undefined)?.includes(key)) problems.push(`${key}: is required`);
      continue;
    }
    const [error] = Value.Errors(schema, value);
    if (!error) continue;
    const shown = shownValue(key, String(raw[key]));
    const message = error.keyword === 'const' || error.keyword === 'anyOf' ? 'is not one of the allowed values' : error.message;
    problems.push(`${key}: ${message} (got "${shown}")`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const config = candidate as Config;
  config.PUBLIC_URL = (config.PUBLIC_URL ?? `http://127.0.0.1:${config.PORT}`).replace(/\/+$/, '');
  const more = semanticProblems(config);
  if (more.length > 0) throw new ConfigError(more);
  return config;
}
