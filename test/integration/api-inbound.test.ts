/**
 * /v1/inbound-parse and /v1/inbound-messages against a real PostgreSQL: the Inbound Parse address
 * created and rotated through the API (secrets shown once, the old ones refused after a rotation),
 * and inbound email from a record and from a stranger, both stored and listed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, startTestApp, unchangedAfter, type TestApp } from '../helpers/app';

const PUBLIC_URL = 'https://fu.example.test';
let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ config: { PUBLIC_URL } });
  await t.client.PUT('/v1/records/{externalId}', { params: { path: { externalId: 'lead-1' } }, body: { name: 'Ana', email: 'ana@example.com' } });
});
afterAll(async () => {
  await t?.close();
});

/** SendGrid Inbound Parse posting to `url` with basic auth, as multipart form data. */
async function postParse(url: string, auth: { username: string; password: string }, fields: Record<string, string>) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const res = new Response(form);
  return rawRequest(t, 'POST', new URL(url).pathname, {
    key: null,
    body: Buffer.from(await res.arrayBuffer()),
    contentType: res.headers.get('content-type')!,
    headers: { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` },
  });
}

const mail = (from: string, id: string, text: string) => ({ from, to: 'replies@homes.example', subject: 'Re: hi', text, headers: `Message-ID: <${id}>` });

describe('/v1/inbound-parse', () => {
  it('creates the address with its secrets shown once; a rotation refuses the old ones', async () => {
    expect((await t.client.GET('/v1/inbound-parse')).data).toEqual({ set: false, username: null, createdAt: null });
    const created = await t.client.POST('/v1/inbound-parse');
    expect(created.response.status).toBe(201);
    const first = created.data!;
    expect(first.url).toMatch(/^https:\/\/fu\.example\.test\/webhooks\/sendgrid\/inbound\/[A-Za-z0-9]{32}$/);
    expect(first.destinationUrl).toBe(first.url.replace('https://', `https://${first.username}:${first.password}@`));
    const state = await t.client.GET('/v1/inbound-parse');
    expect(state.data).toEqual({ set: true, username: first.username, createdAt: first.createdAt });
    expect(JSON.stringify(state.data)).not.toContain(first.password);

    expect((await postParse(first.url, first, mail('ana@example.com', 'm1@mail.example', 'Yes please'))).status).toBe(204);

    const rotated = (await t.client.POST('/v1/inbound-parse')).data!;
    expect(rotated.url).not.toBe(first.url);
    expect(rotated.password).not.toBe(first.password);
    const old = await unchangedAfter(t, () => postParse(first.url, first, mail('ana@example.com', 'm2@mail.example', 'again')));
    expect(old.status).toBe(403);
    const oldPassword = await unchangedAfter(t, () =>
      postParse(rotated.url, { ...rotated, password: first.password }, mail('ana@example.com', 'm3@mail.example', 'x')),
    );
    expect(oldPassword.status).toBe(403);
    expect((await postParse(rotated.url, rotated, mail('Stranger <who@unknown.example>', 'm4@mail.example', 'Who are you?'))).status).toBe(204);
  });
});

describe('/v1/inbound-messages', () => {
  it('lists what came in, newest first; matched=false keeps the senders no record has', async () => {
    const all = await t.client.GET('/v1/inbound-messages');
    expect(all.response.status).toBe(200);
    expect(all.data!.items).toEqual([
      {
        id: expect.stringMatching(/^inb_/),
        channel: 'email',
        from: 'who@unknown.example',
        to: 'replies@homes.example',
        text: 'Who are you?',
        recordId: null,
        messageId: null,
        eventId: null,
        keyword: null,
        receivedAt: expect.any(String),
      },
      expect.objectContaining({ from: 'ana@example.com', text: 'Yes please', recordId: 'lead-1', eventId: 'reply_email_<m1@mail.example>' }),
    ]);
    const unmatched = await t.client.GET('/v1/inbound-messages', { params: { query: { matched: false } } });
    expect(unmatched.data!.items.map((m) => m.from)).toEqual(['who@unknown.example']);
    const matched = await t.client.GET('/v1/inbound-messages', { params: { query: { matched: true, channel: 'email' } } });
    expect(matched.data!.items.map((m) => m.from)).toEqual(['ana@example.com']);
    const page = await t.client.GET('/v1/inbound-messages', { params: { query: { limit: 1 } } });
    const next = await t.client.GET('/v1/inbound-messages', { params: { query: { limit: 1, cursor: page.data!.nextCursor! } } });
    expect([...page.data!.items, ...next.data!.items].map((m) => m.from)).toEqual(['who@unknown.example', 'ana@example.com']);
    expect(next.data!.nextCursor).toBeNull();

    const other = await t.otherWorkspace();
    expect((await other.client.GET('/v1/inbound-messages')).data!.items).toEqual([]);
  });

  it('refuses a bad filter naming it', async () => {
    const res = await unchangedAfter(t, () => rawRequest(t, 'GET', '/v1/inbound-messages?matched=maybe'));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ status: 400, field: '/querystring/matched' });
    const channel = await rawRequest(t, 'GET', '/v1/inbound-messages?channel=fax');
    expect(channel.body).toMatchObject({ status: 400, field: '/querystring/channel' });
  });
});
