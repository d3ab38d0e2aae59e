import { describe, expect, it } from 'vitest';
import { signalInterest, wantsChange, wantsEvent } from '#domain/signal-interest';
import type { AutomationDefinition } from '#domain/definition';
import type { TemplateSnapshot } from '#domain/enrollment';

const postService: AutomationDefinition = {
  name: 'Post-service follow-up',
  trigger: { type: 'event', event: 'booking.status_changed', where: { field: 'event.status', op: 'eq', value: 'completed' } },
  exitWhen: [
    { event: 'message.replied', notify: 'owner' },
    { fieldChanged: 'stage' },
    { goal: { when: { field: 'record.attributes.plan', op: 'eq', value: 'pro' } } },
    { goal: { event: 'booking.created', where: { eventCount: { event: 'booking.cancelled' }, op: 'eq', value: 0 } } },
  ],
  steps: [
    { id: 'w1', type: 'wait', duration: 'PT2H', skipIfChanged: ['owner_id'] },
    { id: 'ask', type: 'email', to: 'record', template: 'tpl_ask' },
    { id: 'rating', type: 'wait_for', event: 'rating.received', timeout: 'P1D', onEvent: 'route', onTimeout: 'end' },
    {
      id: 'route',
      type: 'branch',
      cases: [
        {
          when: {
            all: [
              { field: 'event.rating', op: 'gte', value: 4 },
              { field: 'record.stage', op: 'neq', value: 'lost' },
            ],
          },
          next: 'end',
        },
      ],
    },
  ],
};

const tpl = (content: Record<string, string>): Record<string, TemplateSnapshot> => ({ tpl_ask: { id: 'tpl_ask', version: 1, channel: 'email', content } });

describe('signalInterest', () => {
  it('events: waited for, exited on, reached as a goal, counted; nothing else', () => {
    const i = signalInterest(postService, tpl({ subject: 'Hi', text: 'How was it?' }));
    expect([...i.events].sort()).toEqual(['booking.cancelled', 'booking.created', 'message.replied', 'rating.received']);
    expect(wantsEvent(i, 'rating.received')).toBe(true);
    expect(wantsEvent(i, 'page.viewed')).toBe(false);
    // The trigger's own type is not a signal the running enrollment uses.
    expect(wantsEvent(i, 'booking.status_changed')).toBe(false);
  });

  it('fields: fieldChanged, skipIfChanged, record.* in conditions, plus what every workflow reads', () => {
    const i = signalInterest(postService, tpl({ subject: 'Hi', text: 'How was it?' }));
    expect(i.fields).not.toBe('all');
    expect([...(i.fields as Set<string>)].sort()).toEqual(['attributes.plan', 'email', 'ownerId', 'phone', 'stage', 'timezone']);
    expect(wantsChange(i, ['stage'])).toBe(true);
    expect(wantsChange(i, ['owner_id'])).toBe(true);
    expect(wantsChange(i, ['attributes.plan'])).toBe(true);
    expect(wantsChange(i, ['attributes.color', 'name'])).toBe(false);
    expect(wantsChange(i, [])).toBe(false);
  });

  it('fields a template renders count; a template that prints the whole record wants every change', () => {
    const named = signalInterest(
      postService,
      tpl({ subject: 'Hi {{ record.name | upcase }}', text: '{% if record.attributes.vip %}VIP{% endif %} we record all calls' }),
    );
    expect(wantsChange(named, ['name'])).toBe(true);
    expect(wantsChange(named, ['attributes.vip'])).toBe(true);
    expect(wantsChange(named, ['attributes.color'])).toBe(false);
    const whole = signalInterest(postService, tpl({ subject: 'Hi', text: '{{ record | json }}' }));
    expect(whole.fields).toBe('all');
    expect(wantsChange(whole, ['attributes.color'])).toBe(true);
    const attrs = signalInterest(postService, tpl({ subject: 'Hi', text: '{{ record.attributes["fav color"] }}' }));
    expect(wantsChange(attrs, ['attributes.color'])).toBe(true);
  });

  it('a definition with no rules wants no events and only the fields every workflow reads', () => {
    const i = signalInterest({ name: 'x', trigger: { type: 'manual' }, steps: [{ id: 'w', type: 'wait', duration: 'P1D' }] });
    expect(i.events.size).toBe(0);
    expect(wantsChange(i, ['stage'])).toBe(false);
    expect(wantsChange(i, ['timezone'])).toBe(true);
  });
});
