import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs for machines; pretty ones when a person is watching a terminal. */
export function createLogger(opts: { level: string; name: string }): Logger {
  const pretty = process.stdout.isTTY && process.env.LOG_FORMAT !== 'json';
  return pino({
    name: opts.name,
    level: opts.level,
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
  });
}
