/** domain/templates.ts: the variable list shared by the save-time check and the render scope. */
import { describe, expect, it } from 'vitest';
import { analyzeTemplate, renderContent, TEMPLATE_VARIABLES, templateScope } from '../../domain/templates';

/** Every variable the list names, as a template would write it. */
const variables = Object.entries(TEMPLATE_VARIABLES).flatMap(([root, spec]) =>
  typeof spec === 'object'
    ? Object.entries(spec).map(([field, kind]) => (kind === 'open' ? `${root}.${field}.x` : `${root}.${field}`))
    : [spec === 'open' ? `${root}.x` : root],
);

describe('template variables', () => {
  it('the save-time check accepts every listed variable and the scope has every listed root and field', () => {
    const text = variables.map((v) => `{{ ${v} }}`).join(' ');
    expect(analyzeTemplate('sms', { body: text }).warnings.filter((w) => w.message.includes('unknown variable'))).toEqual([]);
    const full = Object.fromEntries(variables.map((v) => [v.split('.')[1], 'v']));
    const scope = templateScope({
      record: full,
      event: { id: 'e', type: 't', occurredAt: 'now', properties: {} },
      owner: full,
      workspace: full,
      enrollment: full,
      sender: full,
      unsubscribeUrl: 'u',
    });
    expect(Object.keys(scope).sort()).toEqual(Object.keys(TEMPLATE_VARIABLES).sort());
    for (const [root, spec] of Object.entries(TEMPLATE_VARIABLES)) {
      if (typeof spec === 'object') expect(Object.keys(scope[root as keyof typeof scope] as object).sort(), root).toEqual(Object.keys(spec).sort());
    }
  });

  it('warns about a variable outside the list, and the scope does not carry it', async () => {
    const { warnings } = analyzeTemplate('sms', { body: '{{ owner.password }} {{ sender.apiKey }} {{ secrets }}' });
    expect(warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(/^unknown variable owner.password: an owner has id, name, email, phone, timezone$/),
      expect.stringMatching(/^unknown variable sender.apiKey: a sender has id, from, name, replyTo$/),
      expect.stringMatching(
        /^unknown variable secrets: known roots are record.\*, event.\*, owner.\*, workspace.\*, enrollment.\*, sender.\*, unsubscribeUrl$/,
      ),
    ]);
    const out = await renderContent('sms', { body: '[{{ owner.password }}|{{ owner.name }}]' }, { record: {}, owner: { name: 'Mara', password: 'x' } });
    expect(out.body).toBe('[|Mara]');
  });

  it('reads event properties as conditions do: the envelope keys win', async () => {
    const event = { id: 'evt_1', type: 'rating.received', occurredAt: '2026-11-30T10:00:00.000Z', properties: { rating: 4, type: 'stars' } };
    const out = await renderContent('sms', { body: '{{ event.rating }} {{ event.type }} {{ event.properties.type }} {{ event.id }}' }, { record: {}, event });
    expect(out.body).toBe('4 rating.received stars evt_1');
  });
});
