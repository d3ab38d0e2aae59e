/**
 * A dedicated pg client LISTENing on one channel, reopened with backoff (0.5 s doubling, at most
 * 30 s apart) whenever it is lost (PostgreSQL restarted, its backend terminated) for as long as its
 * owner runs. Each (re)connection calls onNotify once, to catch up with anything written while
 * nobody listened; the owner's poll carries the work meanwhile.
 */
import pg from 'pg';
import type { Logger } from 'pino';

const LISTEN_RETRY_MS = 500;
const LISTEN_RETRY_MAX_MS = 30_000;

export interface ListenerOptions {
  databaseUrl: string;
  channel: string;
  /** Names the owner in log lines ("router", "notifier"). */
  name: string;
  logger: Pick<Logger, 'warn'>;
  onNotify: () => void;
}

export class ReconnectingListener {
  private client: pg.Client | undefined;
  private relisten: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopping = false;

  constructor(private readonly opts: ListenerOptions) {}

  /** Listens once; a failure of this first attempt is thrown to the caller. */
  async start(): Promise<void> {
    this.stopping = false;
    await this.listen();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.relisten);
    this.relisten = undefined;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.opts.databaseUrl });
    const lost = () => {
      if (this.client !== client) return;
      this.client = undefined;
      client.end().catch(() => undefined);
      this.listenLater();
    };
    client.on('notification', () => this.opts.onNotify());
    client.on('error', (err) => {
      this.opts.logger.warn({ err }, `${this.opts.name}: LISTEN connection lost; polling until it is back`);
      lost();
    });
    client.on('end', lost);
    try {
      await client.connect();
      await client.query(`LISTEN ${this.opts.channel}`);
    } catch (err) {
      client.end().catch(() => undefined);
      throw err;
    }
    if (this.stopping) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.failures = 0;
    this.opts.onNotify();
  }

  /** Listens again after a backoff, until it works or the owner stops; a failed attempt schedules the next. */
  private listenLater(): void {
    if (this.stopping || this.relisten) return;
    const delayMs = Math.min(LISTEN_RETRY_MAX_MS, LISTEN_RETRY_MS * 2 ** Math.min(this.failures, 16));
    this.relisten = setTimeout(() => {
      this.relisten = undefined;
      this.listen().catch((err) => {
        this.failures++;
        this.opts.logger.warn({ err, failures: this.failures }, `${this.opts.name}: LISTEN reconnect failed; polling meanwhile, trying again`);
        this.listenLater();
      });
    }, delayMs);
  }
}
