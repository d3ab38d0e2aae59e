/**
 * Every list refuses a cursor it did not write with 400 naming /querystring/cursor, including one
 * whose time JavaScript's Date.parse takes but PostgreSQL does not (answered 500 before).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, startTestApp, type TestApp } from '../helpers/app';

let t: TestApp;
let automationId: string;
beforeAll(async () => {
  t = await startTestApp();
  await t.client.POST('/v1/templates', { body: { id: 'tpl_c', name: 'c', channel: 'email', content: { subject: 's', text: 't' } } });
  const created = await t.client.POST('/v1/automations', {
    body: { name: 'c', trigger: { type: 'manual' }, steps: [{ id: 'a', type: 'email', template: 'tpl_c' }] } as never,
  });
  automationId = created.data!.id;
});
afterAll(async () => {
  await t?.close();
});

const cursorOf = (values: unknown[]) => Buffer.from(JSON.stringify(values)).toString('base64url');

describe('cursors', () => {
  const timeLists = () => ['/v1/messages', '/v1/tasks', '/v1/templates', '/v1/automations', '/v1/api-keys', `/v1/automations/${automationId}/enrollments`];

  it.each([
    ['a day February does not have', '2024-02-30T00:00:00.000Z'],
    ['year zero', '0000-01-01T00:00:00Z'],
    ['a year past PostgreSQL', '+275760-09-13T00:00:00Z'],
    ['a loose date', '1 2'],
    ['no time', '2024-01-01'],
  ])('a time cursor holding %s is a 400 on every time-ordered list', async (_what, at) => {
    for (const list of timeLists()) {
      const res = await rawRequest(t, 'GET', `${list}?cursor=${cursorOf([at, 'x'])}`);
      expect(res.status, list).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ status: 400, field: '/querystring/cursor' });
    }
  });

  it('a version cursor past PostgreSQL integers is a 400', async () => {
    for (const list of [`/v1/automations/${automationId}/versions`, '/v1/templates/tpl_c/versions']) {
      const res = await rawRequest(t, 'GET', `${list}?cursor=${cursorOf([1e300])}`);
      expect(res.status, list).toBe(400);
      expect(res.body).toMatchObject({ status: 400, field: '/querystring/cursor' });
    }
  });

  it('the cursors the lists write are taken back', async () => {
    for (const list of timeLists()) {
      const res = await rawRequest(t, 'GET', `${list}?cursor=${cursorOf(['2024-02-29T23:59:59.123456Z', 'x'])}`);
      expect(res.status, list).toBe(200);
    }
  });
});
