/**
 * Local fake SendGrid and Twilio HTTP servers: the only fakes the tests use. The real
 * @sendgrid/mail and twilio clients talk to them (SENDGRID_API_URL / TWILIO_API_URL), so every
 * request is the SDK's own. One server per provider per test process (`fakeSendgrid()`,
 * `fakeTwilio()`); `reset()` between tests.
 *
 * A request is *accepted* when the fake answers it 2xx, whether or not the client is still there
 * to read the answer (a provider that took a message delivers it): that count is what "exactly
 * once" is measured by. `script()` queues answers (status, headers, body, a delay, or a hold the
 * test releases) taken in order by the next requests.
 *
 * The fake Twilio also answers the list requests (GET Messages.json / Calls.json, filtered by To
 * and From, newest first) from the resources it really accepted, as Twilio's API returns them
 * (without the callback URLs); `lookupFailure` makes them fail, `lookups` counts them.
 *
 * The fake SendGrid can report what it accepted as SendGrid's Signed Event Webhook does
 * (`eventWebhook`): a `delivered` event per message, posted once it was accepted.
 */
import { sign, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  /** JSON (SendGrid) or form fields (Twilio, repeated keys as arrays). */
  body: any;
  /** When the request arrived (its headers; Date.now()). */
  at: number;
  /** Accepted requests: the 2xx body the fake answered (the resource it created). */
  answer?: unknown;
}

export interface Answer {
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Answer only after this long (ms). */
  delayMs?: number;
  /** Answer only when the returned promise's `release()` is called. */
  hold?: boolean;
}

export interface Held {
  request: FakeRequest;
  release(): void;
}

export abstract class FakeProvider {
  readonly requests: FakeRequest[] = [];
  readonly accepted: FakeRequest[] = [];
  /** While set, the answer to every request the script does not answer (an outage: `{ status: 500 }`, `{ delayMs }`). */
  outage: Answer | undefined;
  /** Accept times (Date.now()) per message id: counted as requests are accepted, so a count is a lookup. */
  private byMessage = new Map<string, number[]>();
  private answers: Answer[] = [];
  private held: Held[] = [];
  private heldWaiters: Array<(h: Held) => void> = [];
  private server: Server | undefined;
  url = '';

  /** The 2xx answer to a request (the provider's success shape). */
  protected abstract success(req: FakeRequest): { status: number; headers?: Record<string, string>; body: unknown };
  protected abstract parse(raw: string, headers: IncomingMessage['headers']): unknown;
  /** Our message id as the request carries it (custom_args, a callback URL). */
  protected abstract messageIdOf(req: FakeRequest): string | undefined;
  /** Called once a request is accepted, with the answer's headers (a provider's callbacks start here). */
  protected onAccepted(_req: FakeRequest, _headers: Record<string, string>): void {}
  /** Requests this fake answers by itself (lookups), or undefined. */
  protected lookup(_req: FakeRequest): { status: number; body: unknown } | undefined {
    return undefined;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  reset(): void {
    this.requests.length = 0;
    this.accepted.length = 0;
    this.byMessage.clear();
    this.answers = [];
    this.outage = undefined;
    this.held = [];
    this.heldWaiters = [];
  }

  /** Queues answers for the next requests, in order; after them, success. */
  script(...answers: Answer[]): void {
    this.answers.push(...answers);
  }

  /** Resolves when a request held by `{ hold: true }` arrives. */
  nextHeld(): Promise<Held> {
    const held = this.held.shift();
    return held ? Promise.resolve(held) : new Promise((resolve) => this.heldWaiters.push(resolve));
  }

  /**
   * Accepted requests per message id (what "exactly once" counts). A lookup, not a scan: the fault
   * tests count hundreds of messages every second in the process that serves these fakes, and a
   * scan of every accepted request per message held the fakes' answers back by seconds.
   */
  acceptedFor(messageId: string): number {
    return this.byMessage.get(messageId)?.length ?? 0;
  }

  /** When the message's last accepted request was answered (Date.now()), or undefined. */
  lastAcceptedAt(messageId: string): number | undefined {
    return this.byMessage.get(messageId)?.at(-1);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://fake');
    const request: FakeRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body: this.parse(Buffer.concat(chunks).toString('utf8'), req.headers),
      at,
    };
    const looked = this.lookup(request);
    if (looked) return void this.write(res, request, looked.status, {}, looked.body, false);
    this.requests.push(request);
    const answer = this.answers.shift() ?? this.outage ?? {};
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    if (answer.hold) {
      await new Promise<void>((release) => {
        const held = { request, release: () => release() };
        const waiter = this.heldWaiters.shift();
        if (waiter) waiter(held);
        else this.held.push(held);
      });
    }
    if (answer.status !== undefined && (answer.status < 200 || answer.status >= 300)) {
      return void this.write(res, request, answer.status, answer.headers ?? {}, answer.body ?? {}, false);
    }
    const ok = this.success(request);
    this.write(res, request, answer.status ?? ok.status, { ...ok.headers, ...answer.headers }, answer.body ?? ok.body, true);
  }

  private write(res: ServerResponse, req: FakeRequest, status: number, headers: Record<string, string>, body: unknown, accepted: boolean): void {
    if (accepted) {
      this.accepted.push({ ...req, answer: body });
      const id = this.messageIdOf(req);
      if (id !== undefined) this.byMessage.set(id, (this.byMessage.get(id) ?? []).concat(Date.now()));
      this.onAccepted(req, headers);
    }
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body === '' ? '' : JSON.stringify(body));
  }
}

let seq = 0;

export class FakeSendgrid extends FakeProvider {
  /**
   * When set, SendGrid's Signed Event Webhook: each accepted message is reported `delivered` (with our
   * message id from custom_args, as SendGrid flattens them into the event), signed with `privateKey`,
   * to `/webhooks/sendgrid/events` at one of `apiUrls`, the next one after a failure, every second
   * until one answers 2xx (SendGrid too retries an event it could not post).
   */
  eventWebhook: { apiUrls: string[]; privateKey: KeyObject } | undefined;
  private stopped = false;

  override async stop(): Promise<void> {
    this.stopped = true;
    await super.stop();
  }

  protected override onAccepted(req: FakeRequest, headers: Record<string, string>): void {
    const hook = this.eventWebhook;
    const messageId = this.messageIdOf(req);
    if (!hook || !messageId) return;
    const event = {
      email: req.body?.personalizations?.[0]?.to?.[0]?.email,
      timestamp: Math.floor(Date.now() / 1000),
      event: 'delivered',
      sg_event_id: `sge_${++seq}`,
      sg_message_id: headers['x-message-id'],
      message_id: messageId,
    };
    void this.report(hook, JSON.stringify([event]));
  }

  private async report(hook: NonNullable<FakeSendgrid['eventWebhook']>, body: string): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt += 1) {
      const timestamp = String(Math.floor(Date.now() / 1000));
      try {
        const res = await fetch(`${hook.apiUrls[attempt % hook.apiUrls.length]}/webhooks/sendgrid/events`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-twilio-email-event-webhook-timestamp': timestamp,
            'x-twilio-email-event-webhook-signature': sign('sha256', Buffer.from(timestamp + body), hook.privateKey).toString('base64'),
          },
          body,
          signal: AbortSignal.timeout(10_000),
        });
        if (res.ok) return;
      } catch {
        // That API is down or did not answer: the next one.
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  protected parse(raw: string) {
    return raw ? JSON.parse(raw) : null;
  }
  protected success() {
    return { status: 202, headers: { 'x-message-id': `sg_${++seq}` }, body: '' };
  }
  protected messageIdOf(req: FakeRequest): string | undefined {
    return req.body?.custom_args?.message_id;
  }
}

/** Twilio's date format (RFC 2822). */
const twilioDate = (ms: number) => new Date(ms).toUTCString().replace('GMT', '+0000');

export class FakeTwilio extends FakeProvider {
  /** GET Messages.json / Calls.json requests the fake answered. */
  readonly lookups: FakeRequest[] = [];
  /** When set, list requests get this answer (e.g. a 500) instead of the list. */
  lookupFailure: { status: number; body: unknown } | undefined;

  override reset(): void {
    super.reset();
    this.lookups.length = 0;
    this.lookupFailure = undefined;
  }

  protected override lookup(req: FakeRequest): { status: number; body: unknown } | undefined {
    const list = req.method === 'GET' ? /\/(Messages|Calls)\.json$/.exec(req.path) : null;
    if (!list) return undefined;
    this.lookups.push(req);
    if (this.lookupFailure) return this.lookupFailure;
    const key = list[1] === 'Messages' ? 'messages' : 'calls';
    const to = req.query.get('To');
    const from = req.query.get('From');
    const pageSize = Number(req.query.get('PageSize') ?? 50);
    const items = this.accepted
      .filter((r) => r.path.endsWith(`/${list[1]}.json`))
      .map((r) => r.answer as Record<string, unknown>)
      .filter((x) => (to === null || x.to === to) && (from === null || x.from === from))
      .reverse()
      .slice(0, pageSize);
    return { status: 200, body: { [key]: items, next_page_uri: null, page: 0, page_size: pageSize, uri: req.path } };
  }

  protected parse(raw: string) {
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of new URLSearchParams(raw)) {
      const prev = out[k];
      out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    return out;
  }
  protected success(req: FakeRequest) {
    const sid = `${req.path.endsWith('/Calls.json') ? 'CA' : 'SM'}${String(++seq).padStart(32, '0')}`;
    const body = req.body as Record<string, string>;
    return {
      status: 201,
      body: {
        sid,
        status: 'queued',
        direction: 'outbound-api',
        date_created: twilioDate(req.at),
        date_sent: null,
        to: body.To,
        from: body.From ?? null,
        body: body.Body ?? null,
        num_segments: '1',
        messaging_service_sid: body.MessagingServiceSid ?? null,
      },
    };
  }
  protected messageIdOf(req: FakeRequest): string | undefined {
    return new URL(String(req.body.StatusCallback ?? req.body.Url ?? ''), 'http://x').searchParams.get('messageId') ?? undefined;
  }
}

let sendgrid: Promise<FakeSendgrid> | undefined;
let twilioFake: Promise<FakeTwilio> | undefined;

/** The process's one fake SendGrid (started on first use). */
export const fakeSendgrid = (): Promise<FakeSendgrid> => (sendgrid ??= new FakeSendgrid().start());
/** The process's one fake Twilio (started on first use). */
export const fakeTwilio = (): Promise<FakeTwilio> => (twilioFake ??= new FakeTwilio().start());

/** A Twilio error body as the API sends it. */
export const twilioError = (status: number, code: number, message: string): Answer => ({
  status,
  body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
});
