import { pino, type Logger } from 'pino';

export type { Logger };

const LOGGED_SECRETS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.ADMIN_TOKEN',
  '*.SECRETS_KEY',
  '*.SENDGRID_API_KEY',
  '*.TWILIO_AUTH_TOKEN',
  '*.DATABASE_URL',
  '*.apiKey',
  '*.authToken',
  '*.password',
  'config.ADMIN_TOKEN',
  'config.SECRETS_KEY',
  'config.SENDGRID_API_KEY',
  'config.TWILIO_AUTH_TOKEN',
  'config.DATABASE_URL',
];

/** JSON logs for machines; pretty ones when a person is watching a terminal. */
export function createLogger(opts: {
  level: string;
  name: string;
  /** Tests: where lines go (default stdout). */ destination?: { write(line: string): void };
}): Logger {
  const pretty = !opts.destination && process.stdout.isTTY && process.env.LOG_FORMAT !== 'json';
  const options = {
    name: opts.name,
    level: opts.level,
    // Secrets that could reach a log line through a logged object (a request's headers, a config,
    // provider credentials): masked whatever the object is.
    redact: { paths: LOGGED_SECRETS, censor: '***' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
