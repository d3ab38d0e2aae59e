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

/**
 * Paths that carry a credential in the URL itself: the Inbound Parse secret (SendGrid cannot sign
 * those posts, so the path is the password) and the signed unsubscribe token of a record.
 */
const SECRET_PATH_SEGMENTS = [/^(\/webhooks\/sendgrid\/inbound\/)[^/?#]+/, /^(\/u\/)[^/?#]+/];

function maskUrlSecrets(url: string): string {
  return SECRET_PATH_SEGMENTS.reduce((masked, pattern) => masked.replace(pattern, '$1***'), url);
}

interface LoggedRequest {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

/** Fastify's own request serializer, with the URL's secrets masked. */
function requestSerializer(req: LoggedRequest) {
  return { method: req.method, url: req.url && maskUrlSecrets(req.url), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort };
}

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
    serializers: { req: requestSerializer },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
