import { describe, expect, it } from 'vitest';
import Fastify from 'fastify';
import { createLogger } from '#platform/logger';

describe('request logs', () => {
  it('mask the secrets a URL carries (Inbound Parse secret, unsubscribe token) and keep the rest', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', name: 't', destination: { write: (line: string) => lines.push(line) } });
    const app = Fastify({ loggerInstance: logger });
    app.post('/webhooks/sendgrid/inbound/:secret', async () => ({ ok: true }));
    app.get('/u/:token', async () => 'ok');
    app.get('/v1/records/:id', async () => ({ ok: true }));
    await app.inject({ method: 'POST', url: '/webhooks/sendgrid/inbound/inb_s3cr3t-value?x=1', payload: {} });
    await app.inject({ method: 'GET', url: '/u/tok.abcdef123456' });
    await app.inject({ method: 'GET', url: '/v1/records/rec_42' });
    await app.close();

    const urls = lines.map((line) => JSON.parse(line) as { req?: { url: string } }).flatMap((entry) => (entry.req ? [entry.req.url] : []));
    expect(urls).toEqual(['/webhooks/sendgrid/inbound/***?x=1', '/u/***', '/v1/records/rec_42']);
    expect(lines.join('\n')).not.toMatch(/s3cr3t|abcdef123456/);
  });
});
