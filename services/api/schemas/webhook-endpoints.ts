import { Type, type Static } from 'typebox';
import type { WebhookEndpointRow } from '../../../db/webhook-endpoints';
import { iso, ListOf, ListQuery, Nullable, Timestamp } from './common';

export const WebhookEndpointCreate = Type.Object(
  {
    url: Type.String({ minLength: 8, maxLength: 2048, description: 'http:// or https:// URL that receives signed POSTs' }),
    description: Type.Optional(Nullable(Type.String({ maxLength: 500 }))),
    events: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 100, uniqueItems: true, description: 'Notification types to send; empty means all' })),
  },
  { additionalProperties: false, examples: [{ url: 'https://crm.example.com/hooks/followups', description: 'CRM production', events: ['enrollment.completed'] }] },
);
export type WebhookEndpointCreate = Static<typeof WebhookEndpointCreate>;

export const WebhookEndpointView = Type.Object(
  {
    id: Type.String(),
    url: Type.String(),
    description: Nullable(Type.String()),
    events: Type.Array(Type.String()),
    createdAt: Timestamp(),
  },
  { examples: [{ id: 'whe_...', url: 'https://crm.example.com/hooks/followups', description: 'CRM production', events: [], createdAt: '2026-11-23T10:00:00.000Z' }] },
);
export type WebhookEndpointView = Static<typeof WebhookEndpointView>;

export const WebhookEndpointCreated = Type.Object(
  { ...WebhookEndpointView.properties, secret: Type.String({ description: 'HMAC-SHA256 signing secret. Shown once.' }) },
  { examples: [{ id: 'whe_...', url: 'https://crm.example.com/hooks/followups', description: null, events: [], secret: 'whsec_...', createdAt: '2026-11-23T10:00:00.000Z' }] },
);

export const WebhookEndpointList = ListOf(WebhookEndpointView);
export const WebhookEndpointListQuery = ListQuery;

export function toWebhookEndpointView(row: WebhookEndpointRow): WebhookEndpointView {
  return { id: row.id, url: row.url, description: row.description, events: row.events ?? [], createdAt: iso(row.created_at) };
}
