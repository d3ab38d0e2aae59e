/** Seed 000's recipes as definitions, shared by the workflow tests and scripts/record-histories.ts. */
import type { AutomationDefinition } from '#domain/definition';

export const postService: AutomationDefinition = {
  name: 'Post-service follow-up',
  trigger: { type: 'event', event: 'booking.status_changed', where: { field: 'event.status', op: 'eq', value: 'completed' } },
  settings: { timezone: 'record', timing: 'after_previous' },
  steps: [
    { id: 'w1', type: 'wait', duration: 'PT2H' },
    { id: 'ask', type: 'email', to: 'record', variants: [{ template: 'tpl_howwas_a' }, { template: 'tpl_howwas_b' }] },
    { id: 'rating', type: 'wait_for', event: 'rating.received', timeout: 'P1D', onEvent: 'route', onTimeout: 'remind' },
    { id: 'remind', type: 'email', to: 'record', template: 'tpl_reminder', next: 'end' },
    {
      id: 'route',
      type: 'branch',
      cases: [{ when: { field: 'event.rating', op: 'gte', value: 4 }, next: 'referral' }],
      otherwise: 'urgent',
    },
    { id: 'referral', type: 'email', to: 'record', template: 'tpl_referral', next: 'end' },
    { id: 'urgent', type: 'task', assignee: 'owner', template: 'tpl_call_back', priority: 'urgent' },
  ],
};

export const leadNurture: AutomationDefinition = {
  name: 'Lead nurture',
  trigger: { type: 'stage_entered', stage: 'contacted' },
  exitWhen: [{ goal: { event: 'booking.completed' } }],
  settings: { timing: 'after_previous' },
  steps: [
    { id: 'intro', type: 'email', template: 'tpl_intro' },
    { id: 'case_study', type: 'email', template: 'tpl_case_study', delay: 'P3D' },
    { id: 'offer', type: 'email', template: 'tpl_offer', delay: 'P4D' },
    { id: 'final', type: 'email', template: 'tpl_when_ready', delay: 'P7D' },
    { id: 'to_nurture', type: 'update_record', set: { stage: 'nurture' } },
  ],
};

export const renewal: AutomationDefinition = {
  name: 'Subscription renewal reminder',
  trigger: { type: 'date', field: 'record.attributes.renewsAt', offset: '-P7D', at: '09:00' },
  settings: { timing: 'after_start' },
  steps: [
    { id: 'reminder', type: 'email', template: 'tpl_renewal_reminder' },
    {
      id: 'card',
      type: 'branch',
      cases: [{ when: { field: 'record.attributes.cardExpiresSoon', op: 'eq', value: true }, next: 'update_card' }],
      otherwise: 'charge',
    },
    { id: 'update_card', type: 'email', template: 'tpl_update_card' },
    { id: 'charge', type: 'webhook', endpoint: 'wh_billing', payload: { action: 'charge' }, delay: 'P7D', onFailure: 'failed_notice' },
    { id: 'confirm', type: 'email', template: 'tpl_renewal_ok', next: 'end' },
    { id: 'failed_notice', type: 'email', template: 'tpl_renewal_failed' },
  ],
};

export const reactivation: AutomationDefinition = {
  name: 'Reactivation',
  trigger: { type: 'inactivity', event: 'booking.completed', after: 'P60D' },
  conditions: {
    all: [
      { eventCount: { event: 'booking.completed' }, op: 'gte', value: 1 },
      { field: 'record.attributes.deactivated', op: 'neq', value: true },
    ],
  },
  settings: { timing: 'after_previous' },
  steps: [
    { id: 'miss_you', type: 'email', template: 'tpl_miss_you' },
    { id: 'w7', type: 'wait', duration: 'P7D' },
    { id: 'check1', type: 'branch', cases: [{ when: { eventCount: { event: 'booking.created' }, op: 'gte', value: 1 }, next: 'end' }] },
    { id: 'coupon', type: 'sms', template: 'tpl_coupon' },
    { id: 'w14', type: 'wait', duration: 'P14D' },
    { id: 'check2', type: 'branch', cases: [{ when: { eventCount: { event: 'booking.created' }, op: 'gte', value: 1 }, next: 'end' }] },
    { id: 'call', type: 'task', assignee: 'owner', template: 'tpl_personal_call', priority: 'high', due: 'P2D' },
  ],
};
