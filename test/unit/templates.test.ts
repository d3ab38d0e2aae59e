/** domain/templates.ts: the variable list shared by the save-time check and the render scope. */
import { describe, expect, it } from 'vitest';
import { analyzeTemplate, FIELD_LIMITS, renderContent, renderedSizeErrors, TEMPLATE_VARIABLES, templateScope } from '#domain/templates';

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

describe('rendered size', () => {
  it('a send whose field renders past its limit fails with the sizes; one at the limit renders', async () => {
    const note = 'n'.repeat(FIELD_LIMITS.sms.body - 3);
    expect((await renderContent('sms', { body: 'Hi {{ record.attributes.note }}' }, { record: { attributes: { note } } })).body).toHaveLength(1600);
    await expect(renderContent('sms', { body: 'Hi! {{ record.attributes.note }}' }, { record: { attributes: { note } } })).rejects.toThrow(
      'the rendered body is 1601 characters; an SMS body takes at most 1600',
    );
    await expect(
      renderContent(
        'email',
        { subject: '{{ event.title }}', text: 'ok' },
        { record: {}, event: { id: 'e', type: 't', occurredAt: 'now', properties: { title: 's'.repeat(999) } } },
      ),
    ).rejects.toThrow('the rendered subject is 999 characters; an email subject takes at most 998');
  });

  it('at save, counts closed variables at their longest and free-form ones as empty', () => {
    expect(renderedSizeErrors('sms', { body: `${'a'.repeat(1400)}{{ record.name }}` })).toEqual([]);
    expect(renderedSizeErrors('sms', { body: `${'a'.repeat(1401)}{{ record.name }}` })).toEqual([
      { pointer: '/content/body', message: expect.stringMatching(/^can render to 1601 characters/) },
    ]);
    expect(renderedSizeErrors('sms', { body: `${'a'.repeat(1500)}{{ record.attributes.note }}{{ event.text }}` })).toEqual([]);
    // A loop that never ends is refused at save, not left to fail every send.
    expect(renderedSizeErrors('task', { title: 'x', body: '{% for i in (1..100000000) %}{% for j in (1..100000000) %}{% endfor %}{% endfor %}' })).toEqual([
      { pointer: '/content/body', message: expect.stringMatching(/^does not render within the limits/) },
    ]);
  });
});
